import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

/** The gateway serves `dist/` and the API on one origin; in dev, Vite proxies the API to it. */
const gateway = 'http://127.0.0.1:3000';

/**
 * BUILD_ID stamps every chunk, so a rebuild gives every file a new hash: the browser test
 * uses it to play a redeploy under an open tab. Without it the build is untouched.
 */
function stampBuild(id: string | undefined): Plugin {
  return { name: 'stamp-build', augmentChunkHash: () => id };
}

export default defineConfig({
  base: '/',
  plugins: [react(), stampBuild(process.env.BUILD_ID)],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: false },
      '/healthz': { target: gateway, changeOrigin: false },
    },
  },
});
