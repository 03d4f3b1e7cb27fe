export type Role = 'USER' | 'ADMIN'
export type ImageType = 'GENERATED' | 'UPLOADED'
export type ImageStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED'

export interface User {
  id: string
  email: string
  firstName: string | null
  lastName: string | null
  fullName: string | null
  roles: Role[]
  language: string
  coins: number
  createdAt: string
  updatedAt: string
}

export interface ImageMetadata {
  width?: number
  height?: number
  format?: string
  sizeBytes?: number
  previewUrl?: string
  placeholder?: string
  [key: string]: unknown
}

export interface Image {
  id: string
  userId: string
  type: ImageType
  status: ImageStatus
  title: string | null
  description: string | null
  prompt: string | null
  storageKey: string
  storageUrl: string
  thumbnailKey: string | null
  thumbnailUrl: string | null
  metadata: ImageMetadata | null
  coinsUsed: number
  failureReason: string | null
  createdAt: string
  updatedAt: string
}

export interface LedgerEntry {
  id: string
  userId: string
  amount: number
  balanceAfter: number
  reason: string
  imageId: string | null
  note?: string | null
  createdAt: string
  /** `purchase` and `purchase_reversal` entries name their purchase */
  purchaseId?: string | null
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface Stats {
  totalImages: number
  generatedImages: number
  uploadedImages: number
  totalCoinsUsed: number
}

/** A form POST of `fields` plus the file (S3; the default). */
export interface PresignedPost {
  method?: 'POST'
  url: string
  fields: Record<string, string>
  expiresAt: string
}

/** A PUT of the file with exactly these headers (UPLOAD_METHOD=PUT: Cloudflare R2). */
export interface PresignedPut {
  method: 'PUT'
  url: string
  headers: Record<string, string>
  expiresAt: string
}

export type PresignedUpload = PresignedPost | PresignedPut

export interface UploadTicket {
  image: Image
  upload: PresignedUpload
}

export interface CoinAdjustment {
  user: User
  entry: LedgerEntry
}

export const TERMINAL_STATUSES: ImageStatus[] = ['COMPLETED', 'FAILED']
export function isTerminal(status: ImageStatus): boolean {
  return TERMINAL_STATUSES.includes(status)
}

// ---- the coin shop ----
export interface CoinPack {
  id: string
  coins: number
  priceCents: number
  currency: string
  label: string
}

export type PurchaseStatus = 'PENDING' | 'PAID' | 'FAILED' | 'EXPIRED' | 'REVERSED'

export interface Purchase {
  id: string
  userId: string
  packId: string
  coins: number
  amountCents: number
  currency: string
  status: PurchaseStatus
  failureReason: string | null
  checkoutSessionId: string | null
  createdAt: string
  updatedAt: string
  paidAt: string | null
}

export interface CheckoutStarted {
  purchase: Purchase
  checkoutUrl: string
}

/** A purchase that will not change on its own any more (PENDING still waits for Stripe). */
export function isSettled(purchase: Pick<Purchase, 'status'>): boolean {
  return purchase.status !== 'PENDING'
}

