import { ApiError, NetworkError } from '@/api/client'
import { t, te } from '@/i18n'
import { StorageUploadError } from './upload'

export interface ErrorDescription {
  message: string
  details: string[]
}

function fieldLabel(field: string): string {
  const key = `fields.${field}`
  return te(key) ? t(key) : field
}

function waitText(seconds: number): string {
  if (seconds < 60) return t('errors.retryInSeconds', { count: seconds })
  const minutes = Math.ceil(seconds / 60)
  return t('errors.retryInMinutes', { count: minutes })
}

/** Plain words for any error the app can meet, from the problem+json body where there is one. */
export function describeError(err: unknown): ErrorDescription {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'insufficient_coins':
        if (err.required !== null && err.available !== null) {
          return { message: t('errors.insufficientCoins', { required: err.required, available: err.available, missing: Math.max(0, err.required - err.available) }), details: [] }
        }
        return { message: t('errors.insufficientCoinsGeneric'), details: err.detail ? [err.detail] : [] }
      case 'rate_limited':
        return { message: err.retryAfter !== null ? `${t('errors.rateLimited')} ${waitText(err.retryAfter)}` : `${t('errors.rateLimited')} ${t('errors.retryLater')}`, details: [] }
      case 'validation_error':
        return {
          message: t('errors.validation'),
          details: err.errors.length ? err.errors.map((e) => (e.field ? `${fieldLabel(e.field)}: ${e.message}` : e.message)) : err.detail ? [err.detail] : [],
        }
    }
    const codeKey = `errors.codes.${err.code}`
    if (te(codeKey)) return { message: t(codeKey), details: [] }
    if (err.detail) return { message: err.detail, details: [] }
    if (err.title) return { message: err.title, details: [] }
    return { message: err.status >= 500 ? t('errors.server') : t('errors.unexpected', { status: err.status }), details: [] }
  }
  if (err instanceof NetworkError) return { message: t('errors.network'), details: [] }
  if (err instanceof StorageUploadError) {
    if (err.message === 'aborted') return { message: t('upload.cancelled'), details: [] }
    return { message: err.status === 0 ? t('errors.storageUnreachable') : t('errors.storageRejected', { status: err.status }), details: [] }
  }
  if (err instanceof Error && err.message === 'signin_not_started') return { message: t('errors.signInNotStarted'), details: [] }
  if (err instanceof Error && err.message === 'missing_token') return { message: t('errors.missingToken'), details: [] }
  return { message: t('errors.generic'), details: [] }
}

export function errorMessage(err: unknown): string {
  const { message, details } = describeError(err)
  return details.length ? `${message} ${details.join('; ')}` : message
}

/** `failureReason` of a FAILED image, in plain words. */
export function failureText(reason: string | null | undefined): string {
  if (!reason) return t('failure.unknown')
  const key = `failure.${reason}`
  if (te(key)) return t(key)
  const words = reason.replace(/[_-]+/g, ' ').trim()
  return words.charAt(0).toUpperCase() + words.slice(1)
}
