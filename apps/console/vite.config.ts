import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The console is served by the gateway under /admin, with a Content-Security-Policy of 'self' only: one
 * external script and one stylesheet, nothing inlined (no module-preload polyfill, no data: assets).
 * JSX goes through esbuild (tsconfig's jsxImportSource), so no Babel and no plugin.
 */
export default defineConfig({
  root,
  base: '/admin/',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
  },
  // `npm run dev:console` next to a gateway on :3000 (npm start).
  server: { proxy: { '/graphql': 'http://127.0.0.1:3000', '/admin/files': 'http://127.0.0.1:3000' } },
});
