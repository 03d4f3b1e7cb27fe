/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import { defineConfig, loadEnv } from 'vite'
import vue from '@vitejs/plugin-vue'

// API paths of the backend. In `npm run dev` they are proxied to the local
// stack so the app can use same-origin requests (VITE_API_BASE_URL empty).
const API_PATHS = ['^/health$', '^/auth/google/', '^/auth/logout$', '^/me($|/|\\?)', '^/images($|/|\\?)', '^/admin/', '^/_local/']

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), '')
  const proxyTarget = env.DEV_API_PROXY || 'http://127.0.0.1:3000'
  return {
    base: '/',
    plugins: [vue()],
    resolve: {
      alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
    },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      sourcemap: false,
    },
    server: {
      host: '127.0.0.1',
      port: 5173,
      proxy: Object.fromEntries(API_PATHS.map((p) => [p, { target: proxyTarget, changeOrigin: false }])),
    },
    test: {
      environment: 'happy-dom',
      include: ['tests/unit/**/*.spec.ts'],
      restoreMocks: true,
    },
  }
})
