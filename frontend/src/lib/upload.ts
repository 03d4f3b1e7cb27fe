import { ALLOWED_UPLOAD_TYPES, MAX_UPLOAD_BYTES, type UploadContentType } from '@/config'
import type { PresignedPost, PresignedPut, PresignedUpload } from '@/api/types'

const EXTENSION_TYPES: Record<string, UploadContentType> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jfif: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
}

export type UploadProblem =
  | { kind: 'empty' }
  | { kind: 'type'; type: string }
  | { kind: 'size'; size: number; max: number }

export interface CheckedFile {
  file: File
  contentType: UploadContentType
}

/** The file's type as the browser reports it, or guessed from its extension. */
export function contentTypeOf(file: Pick<File, 'name' | 'type'>): string {
  if (file.type) return file.type.toLowerCase()
  const ext = file.name.split('.').pop()?.toLowerCase() ?? ''
  return EXTENSION_TYPES[ext] ?? ''
}

/** Check a file before anything is sent: allowed type and size. */
export function validateUpload(file: Pick<File, 'name' | 'type' | 'size'>, maxBytes: number = MAX_UPLOAD_BYTES): UploadProblem | null {
  const type = contentTypeOf(file)
  if (!(ALLOWED_UPLOAD_TYPES as readonly string[]).includes(type)) return { kind: 'type', type: type || file.name }
  if (file.size <= 0) return { kind: 'empty' }
  if (file.size > maxBytes) return { kind: 'size', size: file.size, max: maxBytes }
  return null
}

export class StorageUploadError extends Error {
  readonly status: number
  /** Did any of the body leave the browser (an upload progress event)? */
  readonly bodySent: boolean
  constructor(status: number, message = 'storage_upload_failed', bodySent = false) {
    super(message)
    this.name = 'StorageUploadError'
    this.status = status
    this.bodySent = bodySent
  }
}

/** The multipart body of a presigned POST: every policy field first, the file last. */
export function presignedFormData(upload: PresignedPost, file: Blob, filename?: string): FormData {
  const form = new FormData()
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value)
  if (filename !== undefined) form.append('file', file, filename)
  else form.append('file', file)
  return form
}

export interface UploadHandle {
  done: Promise<void>
  abort: () => void
}

/** Does the API want the file PUT (UPLOAD_METHOD=PUT) rather than form-POSTed? */
export function isPresignedPut(upload: PresignedUpload): upload is PresignedPut {
  return upload.method === 'PUT'
}

/**
 * Headers a page may not set: the browser sends them itself. Content-Length is
 * the file's real size, which is the size the PUT was signed for.
 */
const BROWSER_SET_HEADERS = new Set(['content-length', 'host'])

/** The headers of a presigned PUT that the page sets itself (all but the browser's own). */
export function putHeaders(upload: PresignedPut): [string, string][] {
  return Object.entries(upload.headers).filter(([name]) => !BROWSER_SET_HEADERS.has(name.toLowerCase()))
}

/**
 * Send the file to the storage's presigned URL with XMLHttpRequest, so the
 * upload progress can be shown: a form POST of the policy fields and the file,
 * or, when the API says `method: "PUT"`, a PUT of the file with the signed
 * headers. `onProgress` gets a fraction 0..1.
 */
export function sendToStorage(
  upload: PresignedUpload,
  file: File,
  onProgress: (fraction: number) => void,
  createXhr: () => XMLHttpRequest = () => new XMLHttpRequest(),
): UploadHandle {
  const xhr = createXhr()
  let bodySent = false
  const done = new Promise<void>((resolve, reject) => {
    xhr.upload.addEventListener('progress', (event) => {
      if (event.loaded > 0) bodySent = true
      if (event.lengthComputable && event.total > 0) onProgress(Math.min(1, event.loaded / event.total))
    })
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1)
        resolve()
      } else {
        reject(new StorageUploadError(xhr.status))
      }
    })
    xhr.addEventListener('error', () => reject(new StorageUploadError(0, 'storage_unreachable', bodySent)))
    xhr.addEventListener('abort', () => reject(new StorageUploadError(0, 'aborted', bodySent)))
    xhr.addEventListener('timeout', () => reject(new StorageUploadError(0, 'storage_unreachable', bodySent)))
  })
  if (isPresignedPut(upload)) {
    xhr.open('PUT', upload.url)
    for (const [name, value] of putHeaders(upload)) xhr.setRequestHeader(name, value)
    xhr.send(file)
  } else {
    xhr.open('POST', upload.url)
    xhr.send(presignedFormData(upload, file, file.name))
  }
  return { done, abort: () => xhr.abort() }
}

/**
 * The same presigned POST as a "simple" cross-origin request (no upload
 * listeners, so no CORS preflight), for storages without CORS rules. Its
 * answer cannot be read: the caller confirms the upload by the image status.
 * A PUT has no such fallback: it is never a simple request.
 */
export async function postToStorageOpaque(upload: PresignedPost, file: File): Promise<void> {
  try {
    await fetch(upload.url, { method: 'POST', body: presignedFormData(upload, file, file.name), mode: 'no-cors', credentials: 'omit' })
  } catch {
    throw new StorageUploadError(0, 'storage_unreachable')
  }
}
