import { afterEach, describe, expect, it, vi } from 'vitest'
import fs from 'node:fs'
import path from 'node:path'
import { flushPromises } from '@vue/test-utils'
import en from '@/i18n/en.json'
import es from '@/i18n/es.json'
import { locale, setLanguage, t } from '@/i18n'
import { applyUser, setToken } from '@/stores/auth'
import AccountView from '@/views/AccountView.vue'
import { json, makeUser, mockFetch, mountView } from './helpers'

type Tree = { [k: string]: string | Tree }
function keys(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => (typeof v === 'string' ? [`${prefix}${k}`] : keys(v, `${prefix}${k}.`)))
}
function has(tree: Tree, key: string): boolean {
  let node: string | Tree | undefined = tree
  for (const part of key.split('.')) node = typeof node === 'object' ? node[part] : undefined
  return typeof node === 'string'
}

describe('i18n', () => {
  afterEach(() => {
    setLanguage('en')
    vi.unstubAllGlobals()
  })

  it('switches language', () => {
    setLanguage('en')
    expect(t('nav.gallery')).toBe('Gallery')
    setLanguage('es')
    expect(locale.value).toBe('es')
    expect(t('nav.gallery')).toBe('Galería')
    expect(document.documentElement.lang).toBe('es')
    expect(localStorage.getItem('imagegen.language')).toBe('es')
  })

  it('falls back to English for unknown languages and returns the key for unknown messages', () => {
    expect(setLanguage('fr')).toBe('en')
    expect(t('nav.gallery')).toBe('Gallery')
    expect(t('no.such.key')).toBe('no.such.key')
  })

  it('fills placeholders and picks plural forms', () => {
    setLanguage('en')
    expect(t('coins.count', { count: 1, n: '1' })).toBe('1 coin')
    expect(t('coins.count', { count: 250, n: '250' })).toBe('250 coins')
    expect(t('gallery.count', { count: 0 })).toBe('No images shown')
    expect(t('gallery.count', { count: 7 })).toBe('7 images shown')
    setLanguage('es')
    expect(t('generate.cost', { count: 50 })).toBe('Cuesta 50 monedas.')
  })

  it('the Spanish catalog has exactly the English keys', () => {
    expect(keys(es as Tree).sort()).toEqual(keys(en as Tree).sort())
  })

  it('every literal key used in the source exists in both catalogs', () => {
    const src = path.resolve(__dirname, '../../src')
    const files: string[] = []
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name)
        if (entry.isDirectory()) walk(full)
        else if (/\.(vue|ts)$/.test(entry.name)) files.push(full)
      }
    }
    walk(src)
    const used = new Set<string>()
    for (const file of files) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) used.add(m[1])
    }
    expect(used.size).toBeGreaterThan(100)
    const missing = [...used].filter((k) => !has(en as Tree, k) || !has(es as Tree, k))
    expect(missing).toEqual([])
  })

  it('the account screen changes the language through PATCH /me', async () => {
    setToken('tok')
    applyUser(makeUser({ language: 'en' }))
    const { calls } = mockFetch({
      'GET /me/stats': () => json(200, { totalImages: 3, generatedImages: 2, uploadedImages: 1, totalCoinsUsed: 100 }),
      'GET /me/ledger': () => json(200, { items: [], nextCursor: null }),
      'PATCH /me': (c) => json(200, makeUser({ ...(c.body as object) })),
    })
    const { wrapper } = await mountView(AccountView, '/account')
    expect(wrapper.find('h1').text()).toBe('Your account')
    await wrapper.find('[data-testid="language"]').setValue('es')
    await flushPromises()
    const patch = calls.find((c) => c.method === 'PATCH')
    expect(patch?.body).toEqual({ language: 'es' })
    expect(locale.value).toBe('es')
    expect(wrapper.find('h1').text()).toBe('Tu cuenta')
    wrapper.unmount()
  })
})
