import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { problemText } from '../api/client';
import { statusLabel } from '../format';

/** Puts `text` on the clipboard: the Clipboard API where the page is a secure context, else a selected copy. */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 1500);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <button type="button" class="copy" onClick={() => void copyText(text).then((ok) => setState(ok ? 'copied' : 'failed'))}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : label}
    </button>
  );
}

/** An id in full (operators paste them into scripts and tickets), with a copy button. */
export function Id({ value }: { value: string }) {
  return (
    <span class="id">
      <code>{value}</code>
      <CopyButton text={value} />
    </span>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{statusLabel(status)}</span>;
}

/** Lines finished (completed + failed) of the total, as a bar and in figures. */
export function Progress({ counts }: { counts: { total: number; completed: number; failed: number } }) {
  const done = counts.completed + counts.failed;
  const share = counts.total === 0 ? 0 : done / counts.total;
  return (
    <span class="progress">
      <progress value={done} max={Math.max(counts.total, 1)} aria-label={`${done} of ${counts.total} lines finished`} />
      <span class="progress-text">
        {done}/{counts.total} ({Math.floor(share * 100)}%){counts.failed > 0 ? <span class="failed-count"> · {counts.failed} failed</span> : null}
      </span>
    </span>
  );
}

/** A failure in words, as an alert next to what caused it. */
export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="problem" role="alert">
      {problemText(error)}
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children ? <p>{children}</p> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** A scrolling box for wide tables, so the page itself never scrolls sideways on a narrow screen. */
export function TableBox({ children }: { children: ComponentChildren }) {
  return <div class="table-box">{children}</div>;
}

export function Field({ label, error, hint, children }: { label: string; error?: string | null; hint?: string; children: ComponentChildren }) {
  return (
    <label class={error ? 'field invalid' : 'field'}>
      <span class="field-label">{label}</span>
      {children}
      {hint && !error ? <span class="field-hint">{hint}</span> : null}
      {error ? (
        <span class="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </label>
  );
}

/**
 * A modal confirmation (the native <dialog>: focus is trapped and Escape dismisses it). `onConfirm` runs
 * while the dialog stays open, so its failure can be shown in it.
 */
export function Confirm({
  title,
  children,
  confirmLabel,
  backLabel = 'Back',
  danger = false,
  pending = false,
  error,
  onConfirm,
  onClose,
}: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  backLabel?: string;
  danger?: boolean;
  pending?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      <h2 id="confirm-title">{title}</h2>
      <div>{children}</div>
      <Problem error={error} />
      <div class="actions">
        <button type="button" onClick={onClose} disabled={pending}>
          {backLabel}
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={onConfirm} disabled={pending}>
          {pending ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
