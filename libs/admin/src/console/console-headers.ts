import helmet from 'helmet';

/**
 * The console's response headers, from helmet (the maintained Express middleware for them) rather than
 * hand-written: a CSP that allows this origin only, and no inline script or style (the Vite build emits
 * none), no framing, no MIME sniffing, no Referer (a signed download link never leaks to another site).
 * HSTS is left to whatever terminates TLS in front of the gateway, which also serves plain HTTP locally.
 */
export const consoleSecurityHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
      formAction: ["'self'"],
    },
  },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  strictTransportSecurity: false,
});

/** Files under assets/ carry a content hash in their name (Vite's build), so they never change. */
export function consoleCacheControl(path: string): string {
  if (/[\\/]assets[\\/]/.test(path)) return 'public, max-age=31536000, immutable';
  // index.html names the current hashed assets: always fetched fresh, so a new build is picked up at once.
  if (path.endsWith('.html')) return 'no-store';
  return 'no-cache';
}
