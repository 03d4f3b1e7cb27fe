import { createRouter, createWebHistory, type RouteRecordRaw, type Router } from 'vue-router'
import { authState, isAdmin, loadMe, rememberRedirect, setNavigator } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    requiresAuth?: boolean
    requiresAdmin?: boolean
    /** i18n key of the page title */
    title?: string
  }
}

// SPA paths never overlap the API's paths (/health, /auth/google/*, /auth/logout,
// /me*, /images*, /admin/*, /collections*, /shared/*, /_local/*): the built app is served next to the API,
// so the collection screens are /my-collections*, and a shared collection's public page is /s/<token>.
export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'gallery', component: () => import('@/views/GalleryView.vue'), meta: { requiresAuth: true, title: 'nav.gallery' } },
  { path: '/signin', name: 'signin', component: () => import('@/views/SignInView.vue'), meta: { title: 'signin.title' } },
  { path: '/auth/callback', name: 'callback', component: () => import('@/views/AuthCallbackView.vue'), meta: { title: 'signin.completing' } },
  { path: '/create', name: 'create', component: () => import('@/views/GenerateView.vue'), meta: { requiresAuth: true, title: 'nav.create' } },
  { path: '/upload', name: 'upload', component: () => import('@/views/UploadView.vue'), meta: { requiresAuth: true, title: 'nav.upload' } },
  { path: '/view/:id', name: 'image', component: () => import('@/views/ImageDetailView.vue'), meta: { requiresAuth: true, title: 'detail.title' }, props: true },
  { path: '/account', name: 'account', component: () => import('@/views/AccountView.vue'), meta: { requiresAuth: true, title: 'nav.account' } },
  { path: '/manage', name: 'manage', component: () => import('@/views/AdminView.vue'), meta: { requiresAuth: true, requiresAdmin: true, title: 'nav.manage' } },
  { path: '/buy', name: 'buy', component: () => import('@/views/BuyCoinsView.vue'), meta: { requiresAuth: true, title: 'shop.title' } },
  // Stripe Checkout returns here (the contract's success and cancel URLs); GET only, so never the API's
  // POST /shop/checkout or GET /shop/packs.
  { path: '/shop/success', name: 'shop-success', component: () => import('@/views/ShopSuccessView.vue'), meta: { requiresAuth: true, title: 'shop.success.title' } },
  { path: '/shop/cancel', name: 'shop-cancel', component: () => import('@/views/ShopCancelView.vue'), meta: { requiresAuth: true, title: 'shop.cancel.title' } },
  // Not /exports/:id: that is the API's path, and a reload there would reach the API, not the app.
  { path: '/export', name: 'exports', component: () => import('@/views/ExportsView.vue'), meta: { requiresAuth: true, title: 'exports.listTitle' } },
  { path: '/export/:id', name: 'export', component: () => import('@/views/ExportView.vue'), meta: { requiresAuth: true, title: 'exports.title' }, props: true },
  { path: '/my-collections', name: 'collections', component: () => import('@/views/CollectionsView.vue'), meta: { requiresAuth: true, title: 'collections.nav' } },
  { path: '/my-collections/:id', name: 'collection', component: () => import('@/views/CollectionView.vue'), meta: { requiresAuth: true, title: 'collections.nav' }, props: true },
  // A shared collection's public page: no sign-in needed.
  { path: '/s/:token', name: 'shared', component: () => import('@/views/SharedView.vue'), meta: { title: 'shared.title' }, props: true },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue'), meta: { title: 'notFound.title' } },
]

export function createAppRouter(): Router {
  const router = createRouter({
    history: createWebHistory('/'),
    routes,
    scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  })

  setNavigator((path) => {
    if (router.currentRoute.value.path !== path) void router.push(path)
  })

  router.beforeEach(async (to) => {
    if (!to.meta.requiresAuth) return true
    if (!authState.token) {
      rememberRedirect(to.fullPath)
      return { name: 'signin' }
    }
    if (!authState.user) {
      try {
        await loadMe()
      } catch {
        // 401 already sent the user to /signin; other failures: let the page show its own error
        if (!authState.token) return { name: 'signin' }
      }
    }
    if (to.meta.requiresAdmin && !isAdmin.value) return { name: 'gallery' }
    return true
  })

  return router
}
