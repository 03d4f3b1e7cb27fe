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
  /** How it was generated (null for uploads); the seed actually used is always there. */
  generation?: GenerationInfo | null
  /** A variation's source image. */
  sourceImageId?: string | null
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


export type Quality = 'standard' | 'premium'

export interface GenerationInfo {
  provider: string
  model: string
  style: string | null
  seed: number | null
  negativePrompt: string | null
  quality: Quality
  strength: number | null
}

/** GET /generation/options: what the configured provider and model offer. */
export interface GenerationOptions {
  provider: string
  model: string
  styles: { id: string; label: string }[]
  sizes: { width: number; height: number }[]
  costs: { standard: number; premium: number }
  maxPromptLength: number
  maxNegativePromptLength?: number
  supports: { negativePrompt: boolean; seed: boolean; variations: boolean; premium?: boolean; strength?: boolean }
}

export interface GenerateBody {
  prompt: string
  title?: string
  description?: string
  width?: number
  height?: number
  negativePrompt?: string
  style?: string
  seed?: number
  quality?: Quality
}

export interface VariationBody {
  prompt?: string
  strength?: number
  seed?: number
  style?: string
}

// ---- collections and batch operations ----
export interface Collection {
  id: string
  userId: string
  title: string
  description: string | null
  imageCount: number
  coverThumbnailUrl: string | null
  shared: boolean
  shareUrl: string | null
  createdAt: string
  updatedAt: string
}

export type BatchAction = 'delete' | 'addToCollection' | 'removeFromCollection'
export type BatchItemStatus = 'ok' | 'not_found' | 'already_present' | 'not_present' | 'limit_reached'

export interface BatchResult {
  imageId: string
  status: BatchItemStatus
}

/** GET /shared/{token}: nothing in it names the owner. */
export interface SharedImage {
  id: string
  title: string
  thumbnailUrl: string | null
  previewUrl: string | null
  width: number | null
  height: number | null
}

export interface SharedCollection {
  collection: { title: string; description: string | null; imageCount: number }
  items: SharedImage[]
  nextCursor: string | null
}
