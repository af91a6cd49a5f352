import { problemText } from '../api/client';
import { useAction } from '../api/hooks';

/** Placeholder until the signed-URL mutation lands in the schema. */
export function DownloadButton({ fileId, label }: { fileId: string; label: string }) {
  const action = useAction();
  return (
    <>
      <button type="button" disabled={action.pending} data-file-id={fileId}>
        {label}
      </button>
      {action.error ? <span class="field-error">{problemText(action.error)}</span> : null}
    </>
  );
}
