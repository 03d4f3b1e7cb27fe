// The local stack's API docs: Swagger UI on /openapi.json (whose servers entry is this stack), and a
// sign-in helper that asks /_local/token for a session token and authorizes Swagger UI with it.
/* global SwaggerUIBundle */
;(function () {
  const SCHEME = 'session'
  const ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: false,
    displayRequestDuration: true,
  })
  window.ui = ui

  const $ = (id) => document.getElementById(id)
  document.querySelectorAll('.origin').forEach((el) => {
    el.textContent = window.location.origin
  })

  function showError(message) {
    $('token-error').textContent = message
    $('token-error').hidden = !message
  }

  $('token-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    showError('')
    $('token-get').disabled = true
    try {
      const email = $('token-email').value.trim()
      const reply = await fetch(`/_local/token?email=${encodeURIComponent(email)}`, {
        headers: { Accept: 'application/json' },
      })
      const body = await reply.json().catch(() => ({}))
      if (!reply.ok || !body.token) {
        showError(body.detail || body.message || `The sign-in failed (HTTP ${reply.status}).`)
        $('token-result').hidden = true
        return
      }
      $('token-value').value = body.token
      $('token-user').textContent = (body.user && body.user.email) || email
      $('token-result').hidden = false
    } catch (error) {
      showError(`The sign-in failed: ${error}`)
    } finally {
      $('token-get').disabled = false
    }
  })

  $('token-authorize').addEventListener('click', () => {
    const token = $('token-value').value.trim()
    if (token) ui.preauthorizeApiKey(SCHEME, token)
  })
})()
