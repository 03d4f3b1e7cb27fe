import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { applyUser, setToken } from '@/stores/auth'
import { setLanguage } from '@/i18n'
import AdminView from '@/views/AdminView.vue'
import { json, makeUser, mockFetch, mountView } from './helpers'

const admin = makeUser({ id: 'admin', email: 'admin@example.com', roles: ['USER', 'ADMIN'] })
const bob = makeUser({ id: 'bob', email: 'bob@example.com', coins: 10 })
const carol = makeUser({ id: 'carol', email: 'carol@example.org', coins: 0 })

describe('AdminView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(admin)
  })
  afterEach(() => vi.unstubAllGlobals())

  it('filters the loaded users by email and says it only searches loaded pages', async () => {
    mockFetch({ 'GET /admin/users': () => json(200, { items: [admin, bob, carol], nextCursor: 'more' }) })
    const { wrapper } = await mountView(AdminView, '/test')
    expect(wrapper.findAll('[data-testid="user-row"]')).toHaveLength(3)
    expect(wrapper.text()).toContain('Searches only the users loaded on this page (3 loaded)')
    await wrapper.find('[data-testid="user-search"]').setValue('CAROL')
    expect(wrapper.findAll('[data-testid="user-row"]').map((r) => r.attributes('data-email'))).toEqual(['carol@example.org'])
    expect(wrapper.find('[data-testid="users-load-more"]').exists()).toBe(true)
    wrapper.unmount()
  })

  it('grants coins with a reason and an idempotency key', async () => {
    const { calls } = mockFetch({
      'GET /admin/users': () => json(200, { items: [admin, bob], nextCursor: null }),
      'POST /admin/users/bob/coins': (c) => {
        const { amount, reason } = c.body as { amount: number; reason: string }
        return json(200, { user: { ...bob, coins: bob.coins + amount }, entry: { id: 'e', userId: 'bob', amount, balanceAfter: bob.coins + amount, reason: 'admin_grant', note: reason, imageId: null, createdAt: '' } })
      },
    })
    const { wrapper } = await mountView(AdminView, '/test')
    const row = () => wrapper.find('[data-email="bob@example.com"]')
    await row().find('[data-testid="adjust-coins"]').trigger('click')
    await row().find('[data-testid="coin-amount"]').setValue('25')
    await row().find('[data-testid="coin-reason"]').setValue('Welcome gift')
    await row().find('[data-testid="coin-form"]').trigger('submit')
    await flushPromises()
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({ amount: 25, reason: 'Welcome gift' })
    expect(post.headers['idempotency-key']).toBeTruthy()
    expect(row().find('[data-testid="user-coins"]').attributes('data-coins')).toBe('35')
    wrapper.unmount()
  })

  it('shows a debit beyond the balance as a plain error', async () => {
    mockFetch({
      'GET /admin/users': () => json(200, { items: [bob], nextCursor: null }),
      'POST /admin/users/bob/coins': () => json(402, { status: 402, code: 'insufficient_coins', required: 100, available: 10 }),
    })
    const { wrapper } = await mountView(AdminView, '/test')
    await wrapper.find('[data-testid="adjust-coins"]').trigger('click')
    await wrapper.find('[data-testid="coin-amount"]').setValue('-100')
    await wrapper.find('[data-testid="coin-reason"]').setValue('Mistake')
    await wrapper.find('[data-testid="coin-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[data-testid="error"]').text()).toContain('this needs 100 and you have 10')
    wrapper.unmount()
  })

  it('adds and removes the ADMIN role, but not on oneself', async () => {
    const { calls } = mockFetch({
      'GET /admin/users': () => json(200, { items: [admin, bob], nextCursor: null }),
      'PUT /admin/users/bob/roles/ADMIN': () => json(200, { ...bob, roles: ['USER', 'ADMIN'] }),
    })
    const { wrapper } = await mountView(AdminView, '/test')
    expect(wrapper.find('[data-email="admin@example.com"] [data-testid="toggle-admin"]').attributes('disabled')).toBeDefined()
    const toggle = wrapper.find('[data-email="bob@example.com"] [data-testid="toggle-admin"]')
    expect(toggle.text()).toBe('Make admin')
    await toggle.trigger('click')
    await flushPromises()
    expect(calls.some((c) => c.method === 'PUT' && c.path === '/admin/users/bob/roles/ADMIN')).toBe(true)
    expect(wrapper.find('[data-email="bob@example.com"] [data-testid="toggle-admin"]').text()).toBe('Remove admin')
    wrapper.unmount()
  })

  it('names each row’s buttons after its user, so every accessible name is unique', async () => {
    mockFetch({ 'GET /admin/users': () => json(200, { items: [admin, bob, carol], nextCursor: null }) })
    const { wrapper } = await mountView(AdminView, '/test')
    const rows = wrapper.findAll('[data-testid="user-row"]')
    const names = rows.flatMap((row) => row.findAll('button').map((b) => b.attributes('aria-label') ?? b.text()))
    expect(new Set(names).size).toBe(names.length)
    const bobRow = wrapper.find('[data-email="bob@example.com"]')
    expect(bobRow.find('[data-testid="adjust-coins"]').attributes('aria-label')).toBe('Grant or debit coins for bob@example.com')
    expect(bobRow.find('[data-testid="toggle-admin"]').attributes('aria-label')).toBe('Make admin: bob@example.com')
    expect(wrapper.find('[data-email="admin@example.com"] [data-testid="toggle-admin"]').attributes('aria-label')).toBe('Remove admin: admin@example.com')
    // the visible words stay part of the name
    expect(bobRow.find('[data-testid="adjust-coins"]').text()).toBe('Grant or debit coins')
    wrapper.unmount()
  })

  it('lists all images filtered by status', async () => {
    const { calls } = mockFetch({
      'GET /admin/users': () => json(200, { items: [admin], nextCursor: null }),
      'GET /admin/images': () => json(200, { items: [], nextCursor: null }),
    })
    const { wrapper } = await mountView(AdminView, '/test')
    await wrapper.find('[data-testid="tab-images"]').trigger('click')
    await flushPromises()
    await wrapper.find('[data-testid="admin-status"]').setValue('FAILED')
    await flushPromises()
    const last = calls.filter((c) => c.path === '/admin/images').pop()!
    expect(last.query.get('status')).toBe('FAILED')
    wrapper.unmount()
  })
})
