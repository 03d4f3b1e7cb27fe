import { request } from './client'
import type { Page } from './types'

export type ExportStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED'

/** A batch download: the chosen images as one ZIP (POST /exports). */
export interface ImageExport {
  id: string
  status: ExportStatus
  /** Images in the ZIP (to go in, until it is built). */
  imageCount: number
  /** Requested images left out: deleted, not completed, or not the caller's. */
  missingCount: number
  /** Of the ZIP, once COMPLETED. */
  sizeBytes: number
  /** Signed, short-lived; only while COMPLETED and not expired. */
  downloadUrl: string | null
  failureReason: string | null
  expiresAt: string
  createdAt: string
  updatedAt: string
}

export type ExportRequest = { imageIds: string[] } | { collectionId: string }

export function isExportFinished(status: ExportStatus): boolean {
  return status === 'COMPLETED' || status === 'FAILED'
}

export const exportsApi = {
  create: (body: ExportRequest) => request<ImageExport>('POST', '/exports', { body }),
  get: (id: string, signal?: AbortSignal) => request<ImageExport>('GET', `/exports/${encodeURIComponent(id)}`, { signal }),
  list: (q: { limit?: number; cursor?: string | null } = {}) => request<Page<ImageExport>>('GET', '/exports', { query: { ...q } }),
}
