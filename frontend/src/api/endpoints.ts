import { apiUrl } from '@/config'
import { authHeader, newIdempotencyKey, NetworkError, reportOwnSpendError, reportUser, request, toApiError } from './client'
import type {
  CheckoutStarted,
  CoinAdjustment,
  CoinPack,
  GenerateBody,
  GenerationOptions,
  Image,
  ImageStatus,
  ImageType,
  LedgerEntry,
  Page,
  Purchase,
  PurchaseStatus,
  Role,
  Stats,
  UploadTicket,
  User,
  VariationBody,
} from './types'

export interface PageQuery {
  limit?: number
  cursor?: string | null
}

export interface ImageFilter extends PageQuery {
  type?: ImageType | ''
  status?: ImageStatus | ''
}

export const api = {
  me: () => request<User>('GET', '/me').then(reportUser),
  updateMe: (patch: { firstName?: string; lastName?: string; language?: string }) => request<User>('PATCH', '/me', { body: patch }).then(reportUser),
  stats: () => request<Stats>('GET', '/me/stats'),
  ledger: (q: PageQuery = {}) => request<Page<LedgerEntry>>('GET', '/me/ledger', { query: { ...q } }),
  deleteMe: () => request<void>('DELETE', '/me'),
  logout: () => request<void>('POST', '/auth/logout', { ignoreUnauthorized: true }),

  listImages: (q: ImageFilter = {}) => request<Page<Image>>('GET', '/images', { query: { ...q } }),
  getImage: (id: string, signal?: AbortSignal) => request<Image>('GET', `/images/${encodeURIComponent(id)}`, { signal }),
  updateImage: (id: string, patch: { title?: string; description?: string }) =>
    request<Image>('PATCH', `/images/${encodeURIComponent(id)}`, { body: patch }),
  deleteImage: (id: string) => request<void>('DELETE', `/images/${encodeURIComponent(id)}`),
  generate: (body: GenerateBody, idempotencyKey = newIdempotencyKey()) =>
    request<Image>('POST', '/images/generate', { body, headers: { 'Idempotency-Key': idempotencyKey } }).catch(reportOwnSpendError),
  createUpload: (body: { filename: string; contentType: string; size: number; title?: string; description?: string }) =>
    request<UploadTicket>('POST', '/images/uploads', { body }).catch(reportOwnSpendError),

  adminUsers: (q: PageQuery = {}) =>
    request<Page<User>>('GET', '/admin/users', { query: { ...q } }).then((page) => {
      page.items.forEach(reportUser)
      return page
    }),
  adminUser: (id: string) => request<User>('GET', `/admin/users/${encodeURIComponent(id)}`).then(reportUser),
  adminImages: (q: ImageFilter = {}) => request<Page<Image>>('GET', '/admin/images', { query: { ...q } }),
  adminAdjustCoins: (id: string, amount: number, reason: string, idempotencyKey = newIdempotencyKey()) =>
    request<CoinAdjustment>('POST', `/admin/users/${encodeURIComponent(id)}/coins`, {
      body: { amount, reason },
      headers: { 'Idempotency-Key': idempotencyKey },
    }).then((result) => {
      // the answer's user is the target's: it updates the header only when admins adjust themselves
      reportUser(result.user)
      return result
    }),
  adminAddRole: (id: string, role: Role) => request<User>('PUT', `/admin/users/${encodeURIComponent(id)}/roles/${role}`).then(reportUser),
  adminRemoveRole: (id: string, role: Role) => request<User>('DELETE', `/admin/users/${encodeURIComponent(id)}/roles/${role}`).then(reportUser),

  // the coin shop
  packs: () => request<{ items: CoinPack[] }>('GET', '/shop/packs').then((r) => r.items),
  checkout: (packId: string, idempotencyKey = newIdempotencyKey()) =>
    request<CheckoutStarted>('POST', '/shop/checkout', { body: { packId }, headers: { 'Idempotency-Key': idempotencyKey } }),
  purchases: (q: PageQuery = {}) => request<Page<Purchase>>('GET', '/me/purchases', { query: { ...q } }),
  purchase: (id: string, signal?: AbortSignal) => request<Purchase>('GET', `/me/purchases/${encodeURIComponent(id)}`, { signal }),
  adminPurchases: (q: PageQuery & { status?: PurchaseStatus | '' } = {}) => request<Page<Purchase>>('GET', '/admin/purchases', { query: { ...q } }),

  generationOptions: () => request<GenerationOptions>('GET', '/generation/options'),
  vary: (id: string, body: VariationBody, idempotencyKey = newIdempotencyKey()) =>
    request<Image>('POST', `/images/${encodeURIComponent(id)}/variations`, { body, headers: { 'Idempotency-Key': idempotencyKey } }).catch(
      reportOwnSpendError,
    ),
}

/**
 * GET /images/{id}/download answers 302 to a signed URL. The request needs the
 * bearer token, so it cannot be a plain link: fetch it (the browser follows the
 * redirect) and hand the result to the browser as a file.
 * Returns the final (signed) URL.
 */
export async function downloadImage(id: string, filename: string): Promise<string> {
  let response: Response
  try {
    response = await fetch(apiUrl(`/images/${encodeURIComponent(id)}/download`), { headers: authHeader(), redirect: 'follow' })
  } catch (cause) {
    throw new NetworkError(cause)
  }
  if (!response.ok) throw await toApiError(response)
  const blob = await response.blob()
  const objectUrl = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = objectUrl
  a.download = filename
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(objectUrl), 30_000)
  return response.url
}
