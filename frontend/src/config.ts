/** Build-time settings (see README). */

function intSetting(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback
  const n = Number(raw)
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback
}

export const API_BASE_URL: string = (import.meta.env.VITE_API_BASE_URL ?? '').replace(/\/+$/, '')
/**
 * The live-update socket (the stack's WebSocketUrl output on AWS). Empty: the API's own origin's
 * `/ws` when the app is served next to the API (the local stack); otherwise no socket, polling only.
 */
export const WEBSOCKET_URL: string = (import.meta.env.VITE_WEBSOCKET_URL ?? '').replace(/\/+$/, '')
export const GENERATION_COST: number = intSetting(import.meta.env.VITE_GENERATION_COST, 50)
export const MAX_UPLOAD_BYTES: number = intSetting(import.meta.env.VITE_MAX_UPLOAD_BYTES, 10 * 1024 * 1024)

export const ALLOWED_UPLOAD_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] as const
export type UploadContentType = (typeof ALLOWED_UPLOAD_TYPES)[number]

/** 256, 320, ... 1024 */
export const SIZE_OPTIONS: number[] = Array.from({ length: (1024 - 256) / 64 + 1 }, (_, i) => 256 + i * 64)

export const SUPPORTED_LANGUAGES = ['en', 'es'] as const
export type Language = (typeof SUPPORTED_LANGUAGES)[number]

export function apiUrl(path: string): string {
  return `${API_BASE_URL}${path}`
}

/** Where the live-update socket is, or null when this build has none. */
export function websocketUrl(origin: Location | URL = window.location): string | null {
  if (WEBSOCKET_URL) return WEBSOCKET_URL
  if (API_BASE_URL) return null
  return `${origin.protocol === 'https:' ? 'wss:' : 'ws:'}//${origin.host}/ws`
}
