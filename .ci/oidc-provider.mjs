// A real OpenID Connect provider (the certified `oidc-provider` package) for the tests,
// on loopback. Any login is accepted by its development interactions; accounts whose id
// starts with "admin" carry the admin role in a `roles` claim.
//   PORT=55600 REDIRECT_URI=http://127.0.0.1:18099/api/auth/oidc/callback node oidc-provider.mjs
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 55600);
const redirect = process.env.REDIRECT_URI;
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'botserver',
    client_secret: 'botserver-test-secret',
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'roles'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    roles: ['roles'],
  },
  cookies: { keys: ['botserver-test-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          name: `Test ${id}`,
          preferred_username: id,
          roles: id.startsWith('admin') ? ['admin'] : ['user'],
        };
      },
    };
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`oidc provider on http://127.0.0.1:${port}`));
