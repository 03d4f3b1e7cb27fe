import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { api } from '@/api/endpoints'
import { setLanguage } from '@/i18n'
import { applyUser, authState, clearSession, noteCharge, setBalance, setToken } from '@/stores/auth'
import AppHeader from '@/components/AppHeader.vue'
import GenerateView from '@/views/GenerateView.vue'
import { json, makeImage, makeUser, mockFetch, mountView } from './helpers'

const insufficient = (required: number, available: number) =>
  json(402, { type: 'about:blank', title: 'Not enough coins', status: 402, code: 'insufficient_coins', detail: 'no', required, available })

describe('balance shown for the signed-in user', () => {
  beforeEach(() => {
    localStorage.clear()
    clearSession()
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser({ id: 'u1', coins: 120 }))
  })
  afterEach(() => vi.unstubAllGlobals())

  it('takes the balance of a 402 on the user’s own generation', async () => {
    mockFetch({ 'POST /images/generate': () => insufficient(50, 0) })
    await expect(api.generate({ prompt: 'a fox' })).rejects.toMatchObject({ status: 402, available: 0 })
    expect(authState.user?.coins).toBe(0)
  })

  it('takes the balance of a 402 on the user’s own upload', async () => {
    mockFetch({ 'POST /images/uploads': () => insufficient(5, 3) })
    await expect(api.createUpload({ filename: 'a.png', contentType: 'image/png', size: 10 })).rejects.toMatchObject({ status: 402 })
    expect(authState.user?.coins).toBe(3)
  })

  it('keeps the balance when a 402 has no `available`, and for other errors', async () => {
    mockFetch({
      'POST /images/generate': () => json(402, { status: 402, code: 'insufficient_coins' }),
      'POST /images/uploads': () => json(422, { status: 422, code: 'validation_error', available: 1 }),
    })
    await expect(api.generate({ prompt: 'a fox' })).rejects.toMatchObject({ status: 402 })
    await expect(api.createUpload({ filename: 'a.exe', contentType: 'x', size: 1 })).rejects.toMatchObject({ status: 422 })
    expect(authState.user?.coins).toBe(120)
  })

  it('does not take another user’s balance from an admin debit’s 402', async () => {
    applyUser(makeUser({ id: 'admin', roles: ['USER', 'ADMIN'], coins: 500 }))
    mockFetch({ 'POST /admin/users/bob/coins': () => insufficient(100, 10) })
    await expect(api.adminAdjustCoins('bob', -100, 'mistake')).rejects.toMatchObject({ status: 402 })
    expect(authState.user?.coins).toBe(500)
  })

  it('follows an admin change to the admin’s own account, not to someone else’s', async () => {
    const admin = makeUser({ id: 'admin', email: 'admin@example.com', roles: ['USER', 'ADMIN'], coins: 500 })
    applyUser(admin)
    const entry = { id: 'e', userId: 'x', amount: 5, balanceAfter: 0, reason: 'admin_grant', imageId: null, createdAt: '' }
    mockFetch({
      'POST /admin/users/bob/coins': () => json(200, { user: makeUser({ id: 'bob', email: 'bob@example.com', coins: 15 }), entry }),
      'POST /admin/users/admin/coins': () => json(200, { user: { ...admin, coins: 505 }, entry }),
    })
    await api.adminAdjustCoins('bob', 5, 'gift')
    expect(authState.user?.coins).toBe(500)
    expect(authState.user?.email).toBe('admin@example.com')
    await api.adminAdjustCoins('admin', 5, 'gift')
    expect(authState.user?.coins).toBe(505)
  })

  it('takes the balance from GET /me and from the admin user list', async () => {
    mockFetch({
      'GET /me': () => json(200, makeUser({ id: 'u1', coins: 42 })),
      'GET /admin/users': () => json(200, { items: [makeUser({ id: 'other', coins: 1 }), makeUser({ id: 'u1', coins: 7 })], nextCursor: null }),
    })
    await api.me()
    expect(authState.user?.coins).toBe(42)
    await api.adminUsers()
    expect(authState.user?.coins).toBe(7)
  })

  it('takes a created image’s cost off at once, then reads the exact balance from /me', async () => {
    let answer = () => json(200, makeUser({ id: 'u1', coins: 71 }))
    const { calls } = mockFetch({ 'GET /me': () => answer() })
    const pending = noteCharge(makeImage({ coinsUsed: 50 }))
    expect(authState.user?.coins).toBe(70)
    await pending
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /me'])
    expect(authState.user?.coins).toBe(71)
    // a free upload changes nothing before /me answers
    answer = () => json(200, makeUser({ id: 'u1', coins: 71 }))
    const free = noteCharge(makeImage({ coinsUsed: 0 }))
    expect(authState.user?.coins).toBe(71)
    await free
  })

  it('setBalance never invents a user', () => {
    clearSession()
    setBalance(5)
    expect(authState.user).toBeNull()
  })

  it('after a 402 on the create screen, the header and the form show the balance the API reported', async () => {
    mockFetch({ 'POST /images/generate': () => insufficient(50, 0) })
    const { wrapper, router } = await mountView(GenerateView, '/create')
    const header = mount(AppHeader, { global: { plugins: [router] } })
    expect(header.find('[data-testid="coin-balance"]').text()).toBe('120 coins')
    await wrapper.find('[data-testid="prompt"]').setValue('a boat')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[data-testid="error"]').text()).toContain('this needs 50 and you have 0')
    expect(header.find('[data-testid="coin-balance"]').text()).toBe('0 coins')
    expect(wrapper.text()).toContain('You need 50 coins to create an image and you have 0.')
    expect(wrapper.find('[data-testid="generate-submit"]').attributes('disabled')).toBeDefined()
    header.unmount()
    wrapper.unmount()
  })

  it('shows the balance in the header outside the collapsible menu', async () => {
    mockFetch({})
    const { router } = await mountView(GenerateView, '/create')
    const header = mount(AppHeader, { global: { plugins: [router] } })
    const badge = header.find('[data-testid="coin-balance"]')
    expect(badge.exists()).toBe(true)
    expect(header.find('#primary-nav [data-testid="coin-balance"]').exists()).toBe(false)
    expect(header.findAll('[data-testid="coin-balance"]')).toHaveLength(1)
    header.unmount()
  })
})
