import { request } from './client'
import type { BatchAction, BatchResult, Collection, Image, Page, SharedCollection } from './types'
import type { PageQuery } from './endpoints'

const path = (id: string) => `/collections/${encodeURIComponent(id)}`

export const collectionsApi = {
  list: (q: PageQuery = {}) => request<Page<Collection>>('GET', '/collections', { query: { ...q } }),
  get: (id: string) => request<Collection>('GET', path(id)),
  create: (body: { title: string; description?: string }) => request<Collection>('POST', '/collections', { body }),
  update: (id: string, patch: { title?: string; description?: string | null }) => request<Collection>('PATCH', path(id), { body: patch }),
  remove: (id: string) => request<void>('DELETE', path(id)),
  images: (id: string, q: PageQuery = {}) => request<Page<Image>>('GET', `${path(id)}/images`, { query: { ...q } }),
  share: (id: string) => request<{ shareUrl: string }>('POST', `${path(id)}/share`),
  unshare: (id: string) => request<void>('DELETE', `${path(id)}/share`),
  /** Public: works signed out (a 401 can never come back from it). */
  shared: (token: string, cursor?: string | null) =>
    request<SharedCollection>('GET', `/shared/${encodeURIComponent(token)}`, { query: cursor ? { cursor } : {}, ignoreUnauthorized: true }),
  batch: (action: BatchAction, imageIds: string[], collectionId?: string) =>
    request<{ results: BatchResult[] }>('POST', '/images/batch', { body: collectionId ? { action, imageIds, collectionId } : { action, imageIds } }),
}
