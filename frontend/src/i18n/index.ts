import { computed, ref } from 'vue'
import en from './en.json'
import es from './es.json'
import { SUPPORTED_LANGUAGES, type Language } from '@/config'

type Messages = { [key: string]: string | Messages }

const catalogs: Record<Language, Messages> = { en, es }
const STORAGE_KEY = 'imagegen.language'

export type Params = Record<string, string | number>

function lookup(messages: Messages, key: string): string | undefined {
  let node: string | Messages | undefined = messages
  for (const part of key.split('.')) {
    if (node === undefined || typeof node === 'string') return undefined
    node = node[part]
  }
  return typeof node === 'string' ? node : undefined
}

export function isSupportedLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (SUPPORTED_LANGUAGES as readonly string[]).includes(value)
}

function initialLanguage(): Language {
  try {
    const stored = localStorage.getItem(STORAGE_KEY)
    if (isSupportedLanguage(stored)) return stored
  } catch {
    /* storage unavailable */
  }
  const nav = typeof navigator !== 'undefined' ? navigator.language?.slice(0, 2).toLowerCase() : ''
  return isSupportedLanguage(nav) ? nav : 'en'
}

const current = ref<Language>(initialLanguage())

export const locale = computed(() => current.value)

/** Switch the interface language. Unknown languages fall back to English. */
export function setLanguage(lang: string | null | undefined): Language {
  const next: Language = isSupportedLanguage(lang) ? lang : 'en'
  current.value = next
  try {
    localStorage.setItem(STORAGE_KEY, next)
  } catch {
    /* storage unavailable */
  }
  if (typeof document !== 'undefined') document.documentElement.lang = next
  return next
}

/**
 * Translate `key`. `{name}` placeholders are filled from params. A message of
 * the form "one | other" picks a plural form by `params.count`.
 */
export function t(key: string, params: Params = {}): string {
  const raw = lookup(catalogs[current.value], key) ?? lookup(catalogs.en, key) ?? key
  let message = raw
  if (raw.includes(' | ') && params.count !== undefined) {
    const forms = raw.split(' | ')
    const n = Number(params.count)
    message = forms.length === 3 ? forms[n === 0 ? 0 : n === 1 ? 1 : 2] : forms[n === 1 ? 0 : 1]
  }
  return message.replace(/\{(\w+)\}/g, (match, name: string) => (name in params ? String(params[name]) : match))
}

/** Does the catalog of the current language (or English) have this key? */
export function te(key: string): boolean {
  return lookup(catalogs[current.value], key) !== undefined || lookup(catalogs.en, key) !== undefined
}

export function formatNumber(n: number): string {
  return new Intl.NumberFormat(current.value).format(n)
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return new Intl.DateTimeFormat(current.value, { dateStyle: 'medium', timeStyle: 'short' }).format(d)
}

export function formatDay(iso: string | null | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return new Intl.DateTimeFormat(current.value, { dateStyle: 'medium' }).format(d)
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return ''
  const units = ['B', 'KB', 'MB', 'GB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1
  return `${new Intl.NumberFormat(current.value, { maximumFractionDigits: digits }).format(value)} ${units[unit]}`
}

/** For templates: `const { t } = useI18n()` keeps reactivity through `locale`. */
export function useI18n() {
  return { t, te, locale, setLanguage, formatNumber, formatDate, formatDay, formatBytes }
}

export const messageCatalogs = catalogs
