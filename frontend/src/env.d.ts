/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the HTTP API, without trailing slash. Empty = same origin. */
  readonly VITE_API_BASE_URL?: string
  /** Coins one generation costs (shown to the user; the API decides). */
  readonly VITE_GENERATION_COST?: string
  /** Largest upload accepted before sending, in bytes. */
  readonly VITE_MAX_UPLOAD_BYTES?: string
  /** The live-update WebSocket (wss://...). Empty = `/ws` on the API's origin when served with it. */
  readonly VITE_WEBSOCKET_URL?: string
}

interface ImportMeta {
  readonly env: ImportMetaEnv
}

declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}
