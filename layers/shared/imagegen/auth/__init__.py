"""Sign-in logic, free of any HTTP framework: Google OpenID Connect (PKCE, state, nonce, ID token
verification), session tokens (signed out on the user's profile), and where the secrets come from.

Import the submodule you need (``imagegen.auth.pkce``, ``imagegen.auth.sessions``, ...): this package
imports nothing, so one part does not pull PyJWT, ``cryptography`` or the Google sign-in with it.
"""
