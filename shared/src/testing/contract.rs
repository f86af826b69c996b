//! The ports' contract, written once and run against every implementation:
//! the in-memory fakes (the unit tests below) and the DynamoDB and Secrets
//! Manager adapters against the local stack (`tests/integration/contract.rs`).
//! The DynamoDB adapter's behaviour is the reference; a check that fails on
//! the fakes only means the fakes drifted from it.
//!
//! Each `*_contract` function takes its port(s) as trait objects, uses fresh
//! random ids (so it can run against a shared table, in parallel with other
//! tests), and returns the first broken rule as a [`Violation`] instead of
//! panicking. Concurrency checks issue their calls together from one task
//! ([`join_all`]): against DynamoDB they are concurrent requests; the fakes
//! yield once per operation, so the calls interleave there too.
//!
//! Storage ports are passed a [`Seed`]: what provisioning writes (tenants,
//! clients, users) is not part of any port, so each backend says how.

use crate::clock::Now;
use crate::crypto::{random_alphanumeric, random_token, token_hash};
use crate::domain::records::{
    AuthCode, Client, Family, Grant, LastRotation, RefreshChain, Reservation, SigningAlg, Tenant,
    User,
};
use crate::domain::throttling::{Budget, Source};
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::ports::{
    BoxFuture, Clock, CodeStore, Directory, LoginTxStore, RefreshStore, SecretSource, StoreResult,
    ThrottleStore, UserStore,
};
use crate::store::Db;
use crate::testing::fakes::FakeStore;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A broken rule of the contract, described.
#[derive(Debug)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "contract violated: {}", self.0)
    }
}

impl std::error::Error for Violation {}

impl From<StoreError> for Violation {
    fn from(e: StoreError) -> Self {
        Violation(format!("unexpected storage error: {e}"))
    }
}

impl From<SecretError> for Violation {
    fn from(e: SecretError) -> Self {
        Violation(format!("unexpected secrets error: {e}"))
    }
}

pub type Outcome = Result<(), Violation>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($msg)+)));
        }
    };
}

// Token exchange's port (after `ensure!`, which it uses).
mod connections;
mod federation;
pub use connections::connections_contract;
pub use federation::{IssuerSeed, federation_contract};
mod providers;
pub use providers::providers_contract;
mod upstream_tx;
pub use upstream_tx::upstream_tx_contract;

fn missing(what: &str) -> Violation {
    Violation(format!("{what}: not found"))
}

/// What provisioning writes, per backend (create-if-absent, `AlreadyExists`
/// otherwise; a user with its case-insensitive username).
pub trait Seed: Send + Sync {
    fn seed_tenant<'a>(&'a self, t: &'a Tenant) -> BoxFuture<'a, StoreResult<()>>;
    fn seed_client<'a>(&'a self, c: &'a Client) -> BoxFuture<'a, StoreResult<()>>;
    fn seed_user<'a>(&'a self, u: &'a User) -> BoxFuture<'a, StoreResult<()>>;
}

impl Seed for FakeStore {
    fn seed_tenant<'a>(&'a self, t: &'a Tenant) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.create_tenant(t) })
    }
    fn seed_client<'a>(&'a self, c: &'a Client) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.create_client(c) })
    }
    fn seed_user<'a>(&'a self, u: &'a User) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.create_user(u) })
    }
}

impl Seed for Db {
    fn seed_tenant<'a>(&'a self, t: &'a Tenant) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.create_tenant(t))
    }
    fn seed_client<'a>(&'a self, c: &'a Client) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.create_client(c))
    }
    fn seed_user<'a>(&'a self, u: &'a User) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.create_user(u))
    }
}

/// Every storage port of one backend, and how to seed it.
pub struct Stores<'a> {
    pub directory: &'a dyn Directory,
    pub users: &'a dyn UserStore,
    pub codes: &'a dyn CodeStore,
    pub refresh: &'a dyn RefreshStore,
    pub throttle: &'a dyn ThrottleStore,
    pub login_txs: &'a dyn LoginTxStore,
    pub seed: &'a dyn Seed,
}

impl<'a> Stores<'a> {
    /// A backend that implements every storage port (the fake, `Db`).
    pub fn of<S>(s: &'a S) -> Stores<'a>
    where
        S: Directory + UserStore + CodeStore + RefreshStore + ThrottleStore + LoginTxStore + Seed,
    {
        Stores {
            directory: s,
            users: s,
            codes: s,
            refresh: s,
            throttle: s,
            login_txs: s,
            seed: s,
        }
    }
}

/// The whole storage contract. `tenant` must not be provisioned yet.
pub async fn storage_contract(s: &Stores<'_>, tenant: &TenantId, now: Now) -> Outcome {
    directory_contract(s.directory, s.seed, tenant, now).await?;
    users_contract(s.users, s.seed, tenant).await?;
    codes_contract(s.codes, s.refresh, tenant, now).await?;
    refresh_contract(s.refresh, tenant, now).await?;
    throttle_contract(s.throttle, tenant, now).await?;
    login_tx_contract(s.login_txs, tenant, now).await
}

// ---- concurrency -----------------------------------------------------------

/// Polls every future until all are done; the outputs in order.
pub fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> impl Future<Output = Vec<T>> + 'a
where
    T: 'a,
{
    JoinAll {
        outputs: futures.iter().map(|_| None).collect(),
        futures: futures.into_iter().map(Some).collect(),
    }
}

struct JoinAll<'a, T> {
    futures: Vec<Option<BoxFuture<'a, T>>>,
    outputs: Vec<Option<T>>,
}

// Nothing is ever pinned in place: the futures are boxed, outputs are moved.
impl<T> Unpin for JoinAll<'_, T> {}

impl<T> Future for JoinAll<'_, T> {
    type Output = Vec<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, out) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(
                std::mem::take(&mut this.outputs)
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        }
    }
}

// ---- records ----------------------------------------------------------------

fn new_user_id() -> Result<UserId, Violation> {
    UserId::parse(&random_token(16)).map_err(|e| Violation(e.to_string()))
}

fn new_client_id() -> Result<ClientId, Violation> {
    ClientId::parse(&random_alphanumeric(ClientId::LEN)).map_err(|e| Violation(e.to_string()))
}

/// Another tenant, for isolation checks.
fn sibling(t: &TenantId) -> Result<TenantId, Violation> {
    let base: String = t.as_str().chars().take(60).collect();
    TenantId::parse(&format!("{base}-o")).map_err(|e| Violation(e.to_string()))
}

fn tenant_record(id: &TenantId, now: Now) -> Tenant {
    Tenant {
        id: id.clone(),
        name: "Contract Inc".into(),
        access_token_ttl: 900,
        refresh_token_ttl: 7200,
        audiences: vec![
            "https://api.contract.example".into(),
            "https://other.contract.example".into(),
        ],
        signing_alg: SigningAlg::ES256,
        public_jwks: r#"[{"kty":"EC","kid":"k1"}]"#.into(),
        current_kid: "k1".into(),
        sliding_max: None,
        key_rotation_days: None,
        branding: branded(),
        created_at: now.secs(),
        keys: crate::domain::records::KeyState {
            generation: 3,
            changed_at: now.secs(),
            due: now.secs() + 86_400,
        },
        deleting: false,
    }
}

/// Every branding field set, the logo a minimal PNG header.
fn branded() -> crate::domain::branding::Branding {
    use crate::domain::branding::{Branding, Logo, Rgb};
    let mut png = vec![
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13,
    ];
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0, 0, 0, 0]);
    Branding {
        display_name: Some("Contract & Co".into()),
        logo: Logo::from_png(png).ok(),
        primary_color: Some(Rgb(0x12, 0x34, 0x56)),
        scope_descriptions: [("api".to_owned(), "Read your orders".to_owned())].into(),
    }
}

fn client_record(tenant: &TenantId, id: &ClientId, now: Now) -> Client {
    Client {
        tenant: tenant.clone(),
        client_id: id.clone(),
        name: "Contract App".into(),
        grants: vec![Grant::AuthorizationCode, Grant::Password],
        redirect_uris: vec![
            "https://client.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        scopes: vec!["api".into(), "read".into()],
        public: false,
        require_pkce: true,
        require_offline_access: true,
        web_origins: Vec::new(),
        introspect: false,
        enabled: true,
        created_at: now.secs(),
    }
}

fn user_record(tenant: &TenantId, id: &UserId, username: &str) -> User {
    User {
        tenant: tenant.clone(),
        user_id: id.clone(),
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$not-a-real-hash".into(),
        email: Some("alice@contract.example".into()),
        name: Some("Alice".into()),
        attrs: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
        require_password_change: true,
        pwd_version: 0,
        enabled: true,
        created_at: 5,
    }
}

fn code_record(
    tenant: &TenantId,
    hash: &str,
    client: &ClientId,
    user: &UserId,
    expires_at: u64,
) -> AuthCode {
    AuthCode {
        tenant: tenant.clone(),
        code_hash: hash.to_owned(),
        client_id: client.clone(),
        redirect_uri: "https://client.example/cb".into(),
        redirect_uri_in_request: false,
        scope: "api openid".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        user_id: user.clone(),
        auth_time: expires_at.saturating_sub(90),
        expires_at,
        family_id: None,
    }
}

fn family_record(
    tenant: &TenantId,
    client: &ClientId,
    user: &UserId,
    pwd_version: u64,
    now: Now,
) -> Family {
    Family {
        tenant: tenant.clone(),
        family_id: random_token(16),
        client_id: client.clone(),
        user_id: user.clone(),
        pwd_version,
        revoked: false,
        created_at: now.secs(),
        expires_at: now.plus(3600),
        auth_time: Some(now.secs().saturating_sub(30)),
        refresh: None,
    }
}

/// A fresh chain whose current token lives `ttl` seconds from `now`.
pub fn chain_record(now: Now, ttl: u64) -> RefreshChain {
    RefreshChain {
        scope: "api offline_access".into(),
        generation: 0,
        current_hash: token_hash(&random_token(32)),
        key: random_token(32),
        salt: String::new(),
        issued_at: now.secs(),
        expires_at: now.plus(ttl),
        last_rotation: None,
    }
}

/// The chain a rotation at `now` writes after `c`.
pub fn next_of(c: &RefreshChain, now: Now, retry_scope: &str) -> RefreshChain {
    RefreshChain {
        generation: c.generation + 1,
        current_hash: token_hash(&random_token(32)),
        salt: random_token(32),
        issued_at: now.secs(),
        expires_at: now.plus(3600),
        last_rotation: Some(LastRotation {
            at: now.secs(),
            retry_scope: retry_scope.into(),
        }),
        ..c.clone()
    }
}

fn same_code(a: &AuthCode, b: &AuthCode) -> bool {
    a.tenant == b.tenant
        && a.code_hash == b.code_hash
        && a.client_id == b.client_id
        && a.redirect_uri == b.redirect_uri
        && a.redirect_uri_in_request == b.redirect_uri_in_request
        && a.scope == b.scope
        && a.code_challenge == b.code_challenge
        && a.nonce == b.nonce
        && a.user_id == b.user_id
        && a.auth_time == b.auth_time
        && a.expires_at == b.expires_at
}

fn same_family(a: &Family, b: &Family) -> bool {
    a.tenant == b.tenant
        && a.family_id == b.family_id
        && a.client_id == b.client_id
        && a.user_id == b.user_id
        && a.pwd_version == b.pwd_version
        && a.revoked == b.revoked
        && a.created_at == b.created_at
        && a.expires_at == b.expires_at
        && a.auth_time == b.auth_time
        && a.refresh == b.refresh
}

// ---- Directory -------------------------------------------------------------

/// Tenants and clients: absent until created, created once, read back as
/// written, never visible under another tenant.
pub async fn directory_contract(
    dir: &dyn Directory,
    seed: &dyn Seed,
    tenant: &TenantId,
    now: Now,
) -> Outcome {
    let other = sibling(tenant)?;
    let cid = new_client_id()?;
    ensure!(
        dir.tenant(tenant).await?.is_none(),
        "a tenant that was never created reads as absent"
    );
    ensure!(
        dir.client(tenant, &cid).await?.is_none(),
        "a client that was never created reads as absent"
    );

    let t = tenant_record(tenant, now);
    seed.seed_tenant(&t).await?;
    let got = dir
        .tenant(tenant)
        .await?
        .ok_or_else(|| missing("a created tenant"))?;
    ensure!(
        got.id == t.id
            && got.name == t.name
            && got.access_token_ttl == t.access_token_ttl
            && got.refresh_token_ttl == t.refresh_token_ttl
            && got.audiences == t.audiences
            && got.signing_alg == t.signing_alg
            && got.public_jwks == t.public_jwks
            && got.current_kid == t.current_kid
            && got.branding == t.branding
            && got.branding.logo.is_some()
            && got.created_at == t.created_at
            && got.keys == t.keys
            && !got.deleting,
        "a tenant reads back as written: {got:?}"
    );
    ensure!(
        matches!(seed.seed_tenant(&t).await, Err(StoreError::AlreadyExists)),
        "creating a tenant twice is AlreadyExists"
    );

    let c = client_record(tenant, &cid, now);
    seed.seed_client(&c).await?;
    let got = dir
        .client(tenant, &cid)
        .await?
        .ok_or_else(|| missing("a created client"))?;
    ensure!(
        got.tenant == c.tenant
            && got.client_id == c.client_id
            && got.name == c.name
            && got.grants == c.grants
            && got.redirect_uris == c.redirect_uris
            && got.scopes == c.scopes
            && got.public == c.public
            && got.require_pkce == c.require_pkce
            && got.require_offline_access == c.require_offline_access
            && got.enabled == c.enabled
            && got.created_at == c.created_at,
        "a client reads back as written: {got:?}"
    );
    ensure!(
        matches!(seed.seed_client(&c).await, Err(StoreError::AlreadyExists)),
        "creating a client twice is AlreadyExists"
    );
    ensure!(
        dir.tenant(&other).await?.is_none() && dir.client(&other, &cid).await?.is_none(),
        "a tenant's records are not visible under another tenant"
    );
    Ok(())
}

// ---- UserStore ---------------------------------------------------------------

/// Users by id and by username (without regard to case or surrounding
/// space), unique usernames, and the password change's version condition.
pub async fn users_contract(users: &dyn UserStore, seed: &dyn Seed, tenant: &TenantId) -> Outcome {
    let other = sibling(tenant)?;
    let id = new_user_id()?;
    let name = format!("Alice.Example-{}", random_alphanumeric(8));
    ensure!(
        users.user(tenant, &id).await?.is_none(),
        "an unknown user id reads as absent"
    );
    ensure!(
        users.user_by_username(tenant, &name).await?.is_none(),
        "an unknown username reads as absent"
    );
    for blank in ["", "   "] {
        ensure!(
            users.user_by_username(tenant, blank).await?.is_none(),
            "a blank username {blank:?} finds nobody"
        );
    }

    let u = user_record(tenant, &id, &name);
    seed.seed_user(&u).await?;
    let got = users
        .user(tenant, &id)
        .await?
        .ok_or_else(|| missing("a created user"))?;
    ensure!(
        got.tenant == u.tenant
            && got.user_id == u.user_id
            && got.username == u.username
            && got.password_hash == u.password_hash
            && got.email == u.email
            && got.name == u.name
            && got.attrs == u.attrs
            && got.require_password_change == u.require_password_change
            && got.pwd_version == u.pwd_version
            && got.enabled == u.enabled
            && got.created_at == u.created_at,
        "a user reads back as written"
    );
    for asked in [
        name.clone(),
        name.to_lowercase(),
        name.to_uppercase(),
        format!("  {name}\t"),
    ] {
        let found = users.user_by_username(tenant, &asked).await?;
        ensure!(
            found.is_some_and(|f| f.user_id == id),
            "username lookup ignores case and surrounding space: {asked:?}"
        );
    }
    let twin = user_record(tenant, &new_user_id()?, &name.to_uppercase());
    ensure!(
        matches!(seed.seed_user(&twin).await, Err(StoreError::AlreadyExists)),
        "usernames are unique per tenant without regard to case"
    );
    ensure!(
        users.user(tenant, &twin.user_id).await?.is_none(),
        "a refused user is not written"
    );
    ensure!(
        users
            .user_by_username(tenant, &name)
            .await?
            .is_some_and(|f| f.user_id == id),
        "a refused duplicate leaves the username with its first owner"
    );
    ensure!(
        users.user(&other, &id).await?.is_none()
            && users.user_by_username(&other, &name).await?.is_none(),
        "a user is not visible under another tenant"
    );

    // The password change: only from the expected version.
    ensure!(
        !users.change_password(tenant, &id, 7, "h-stale").await?,
        "a password change from a stale version is refused"
    );
    let same = users
        .user(tenant, &id)
        .await?
        .ok_or_else(|| missing("the user"))?;
    ensure!(
        same.password_hash == u.password_hash
            && same.pwd_version == 0
            && same.require_password_change,
        "a refused password change writes nothing"
    );
    ensure!(
        users.change_password(tenant, &id, 0, "h-1").await?,
        "a password change from the current version succeeds"
    );
    let changed = users
        .user_by_username(tenant, &name)
        .await?
        .ok_or_else(|| missing("the user by name"))?;
    ensure!(
        changed.password_hash == "h-1"
            && changed.pwd_version == 1
            && !changed.require_password_change,
        "a password change sets the hash, bumps the version and clears the change-required flag"
    );
    ensure!(
        !users.change_password(tenant, &id, 0, "h-2").await?,
        "the version a change moved from no longer matches"
    );
    let ghost = new_user_id()?;
    ensure!(
        !users.change_password(tenant, &ghost, 0, "h").await?,
        "changing an unknown user's password is refused"
    );
    ensure!(
        users.user(tenant, &ghost).await?.is_none(),
        "a refused password change creates no user"
    );

    // Concurrent changes from one version: exactly one wins.
    let hashes: Vec<String> = (0..10).map(|i| format!("h-race-{i}")).collect();
    let results = join_all(
        hashes
            .iter()
            .map(|h| users.change_password(tenant, &id, 1, h))
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Ok(true)))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        winners.len() == 1 && results.iter().all(Result::is_ok),
        "exactly one of 10 concurrent password changes wins: {results:?}"
    );
    let after = users
        .user(tenant, &id)
        .await?
        .ok_or_else(|| missing("the user"))?;
    ensure!(
        after.pwd_version == 2
            && winners
                .first()
                .and_then(|w| hashes.get(*w))
                .is_some_and(|h| *h == after.password_hash),
        "the winning change is the one stored"
    );
    Ok(())
}

// ---- CodeStore ---------------------------------------------------------------

/// Codes: create-if-absent, unused when stored, expiry on read (a used code
/// stays readable), redeemed once with its family and first token in one
/// transaction, burnt without issuing, and a family revoked before its
/// redemption wrote it stays revoked.
pub async fn codes_contract(
    codes: &dyn CodeStore,
    refresh: &dyn RefreshStore,
    tenant: &TenantId,
    now: Now,
) -> Outcome {
    let other = sibling(tenant)?;
    let cid = new_client_id()?;
    let uid = new_user_id()?;
    let t0 = now.secs();
    let at = |s: u64| Now(t0 + s);
    let exp = t0 + 60;
    let pair = || Family {
        refresh: Some(chain_record(now, 3600)),
        ..family_record(tenant, &cid, &uid, 3, now)
    };
    let fresh_code = || async {
        let h = token_hash(&random_token(32));
        codes.put(&code_record(tenant, &h, &cid, &uid, exp)).await?;
        Ok::<String, Violation>(h)
    };
    let family_of = |h: String| async move {
        Ok::<_, Violation>(
            codes
                .get(tenant, &h, now)
                .await?
                .ok_or_else(|| missing("the code"))?
                .family_id,
        )
    };

    // Put and read.
    let h1 = token_hash(&random_token(32));
    let mut c1 = code_record(tenant, &h1, &cid, &uid, exp);
    c1.family_id = Some("never-stored".into());
    codes.put(&c1).await?;
    let got = codes
        .get(tenant, &h1, now)
        .await?
        .ok_or_else(|| missing("a stored code"))?;
    ensure!(
        same_code(&got, &c1),
        "a code reads back as written: {got:?}"
    );
    ensure!(
        got.family_id.is_none(),
        "a stored code is unused, whatever family the record carried"
    );
    ensure!(
        matches!(codes.put(&c1).await, Err(StoreError::AlreadyExists)),
        "putting a code twice is AlreadyExists"
    );
    ensure!(
        codes.get(tenant, &h1, at(59)).await?.is_some(),
        "a code is readable until its expiry"
    );
    ensure!(
        codes.get(tenant, &h1, at(60)).await?.is_none(),
        "an unused code reads as absent from its expiry on"
    );
    ensure!(
        codes.get(&other, &h1, now).await?.is_none(),
        "a code is not visible under another tenant"
    );

    // Redeeming at the expiry, or an unknown code: refused, nothing written.
    let f1 = pair();
    ensure!(
        codes
            .redeem(tenant, &h1, &f1.family_id, Some(&f1), at(60))
            .await?
            == Err(()),
        "an expired code cannot be redeemed"
    );
    ensure!(
        refresh.family(tenant, &f1.family_id, now).await?.is_none(),
        "a refused redemption writes no family"
    );
    ensure!(
        codes
            .get(tenant, &h1, at(59))
            .await?
            .is_some_and(|c| c.family_id.is_none()),
        "a refused redemption leaves the code unused"
    );
    ensure!(
        codes
            .redeem(
                tenant,
                &token_hash(&random_token(32)),
                &f1.family_id,
                None,
                now
            )
            .await?
            == Err(()),
        "an unknown code cannot be redeemed"
    );

    // Redemption: the code used with the family, the family and token written.
    ensure!(
        codes
            .redeem(tenant, &h1, &f1.family_id, Some(&f1), at(1))
            .await?
            == Ok(()),
        "an unused, unexpired code is redeemed"
    );
    ensure!(
        codes
            .get(tenant, &h1, at(3600))
            .await?
            .is_some_and(|c| c.family_id.as_deref() == Some(&f1.family_id)),
        "a used code carries its redemption's family and stays readable after its expiry"
    );
    let fam = refresh
        .family(tenant, &f1.family_id, at(1))
        .await?
        .ok_or_else(|| missing("the redemption's family"))?;
    ensure!(
        same_family(&fam, &f1),
        "the redemption writes its family and first refresh token as given: {fam:?}"
    );

    // A second redemption: refused, writes nothing.
    let f2 = pair();
    ensure!(
        codes
            .redeem(tenant, &h1, &f2.family_id, Some(&f2), at(2))
            .await?
            == Err(()),
        "a code is redeemed once"
    );
    ensure!(
        refresh.family(tenant, &f2.family_id, now).await?.is_none(),
        "a second redemption writes no family"
    );
    ensure!(
        family_of(h1.clone()).await?.as_deref() == Some(f1.family_id.as_str()),
        "a second redemption leaves the first one's family on the code"
    );
    ensure!(
        codes
            .redeem(tenant, &h1, &f1.family_id, Some(&f1), at(2))
            .await?
            == Ok(()),
        "a retry of the redemption that won (same family) is answered Ok"
    );

    // Without a refresh token: the code is used, no family is written.
    let h2 = fresh_code().await?;
    let bare = random_token(16);
    ensure!(
        codes.redeem(tenant, &h2, &bare, None, now).await? == Ok(()),
        "a code is redeemed without a refresh token"
    );
    ensure!(
        family_of(h2).await?.as_deref() == Some(bare.as_str())
            && refresh.family(tenant, &bare, now).await?.is_none(),
        "a redemption without a refresh token records its family id and writes no family"
    );

    // Burn: used without issuing; nothing for an unknown, expired or used code.
    let h3 = fresh_code().await?;
    codes.burn(tenant, &h3, now).await?;
    ensure!(
        family_of(h3.clone()).await?.is_some(),
        "a burnt code reads as used"
    );
    let f3 = pair();
    ensure!(
        codes
            .redeem(tenant, &h3, &f3.family_id, Some(&f3), now)
            .await?
            == Err(())
            && refresh.family(tenant, &f3.family_id, now).await?.is_none(),
        "a burnt code cannot be redeemed"
    );
    let h4 = fresh_code().await?;
    let f4 = random_token(16);
    ensure!(
        codes.redeem(tenant, &h4, &f4, None, now).await? == Ok(()),
        "redeem"
    );
    codes.burn(tenant, &h4, now).await?;
    ensure!(
        family_of(h4).await?.as_deref() == Some(f4.as_str()),
        "burning a used code keeps its redemption's family"
    );
    let h5 = token_hash(&random_token(32));
    codes.burn(tenant, &h5, now).await?;
    ensure!(
        codes.get(tenant, &h5, now).await?.is_none()
            && codes
                .put(&code_record(tenant, &h5, &cid, &uid, exp))
                .await
                .is_ok(),
        "burning an unknown code creates nothing"
    );
    let h6 = fresh_code().await?;
    codes.burn(tenant, &h6, at(60)).await?;
    ensure!(
        codes
            .get(tenant, &h6, at(59))
            .await?
            .is_some_and(|c| c.family_id.is_none()),
        "burning an expired code does not mark it"
    );

    // A family revoked (tombstone) before the redemption wrote it stays revoked.
    let h7 = fresh_code().await?;
    let f7 = pair();
    refresh.revoke_family(tenant, &f7.family_id, now).await?;
    ensure!(
        codes
            .redeem(tenant, &h7, &f7.family_id, Some(&f7), now)
            .await?
            == Ok(()),
        "a code is redeemed into a family that a revocation left a tombstone for"
    );
    let fam7 = refresh
        .family(tenant, &f7.family_id, now)
        .await?
        .ok_or_else(|| missing("the completed tombstone"))?;
    ensure!(
        fam7.revoked && fam7.client_id == cid && fam7.user_id == uid,
        "a family revoked before its redemption wrote it stays revoked: {fam7:?}"
    );

    // 20 concurrent redemptions of one code: exactly one wins.
    let h9 = fresh_code().await?;
    let pairs: Vec<Family> = (0..20).map(|_| pair()).collect();
    let results = join_all(
        pairs
            .iter()
            .map(|f| codes.redeem(tenant, &h9, &f.family_id, Some(f), now))
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Ok(Ok(()))))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        winners.len() == 1 && results.iter().all(Result::is_ok),
        "exactly one of 20 concurrent redemptions wins, the others are refused: {results:?}"
    );
    let w = winners.first().copied().unwrap_or_default();
    let winner = pairs
        .get(w)
        .map(|f| f.family_id.clone())
        .unwrap_or_default();
    ensure!(
        family_of(h9).await?.as_deref() == Some(winner.as_str()),
        "the code carries the winner's family"
    );
    for (i, f) in pairs.iter().enumerate() {
        let family = refresh.family(tenant, &f.family_id, now).await?.is_some();
        ensure!(
            family == (i == w),
            "only the winning redemption wrote a family (caller {i})"
        );
    }
    Ok(())
}

// ---- RefreshStore --------------------------------------------------------------

/// Families and their refresh-token chains: written as given (a tombstone
/// keeps them revoked), expiry on read, the rotation's one conditional write
/// (current token unchanged, unexpired, family not revoked) with exactly one
/// winner, revocation by tombstone.
pub async fn refresh_contract(refresh: &dyn RefreshStore, tenant: &TenantId, now: Now) -> Outcome {
    let other = sibling(tenant)?;
    let cid = new_client_id()?;
    let uid = new_user_id()?;
    let t0 = now.secs();
    let at = |s: u64| Now(t0 + s);
    let with_chain = |ttl: u64| Family {
        refresh: Some(chain_record(now, ttl)),
        ..family_record(tenant, &cid, &uid, 2, now)
    };
    let chain_now = |f: &Family, when: Now| {
        let id = f.family_id.clone();
        async move {
            Ok::<_, Violation>(
                refresh
                    .family(tenant, &id, when)
                    .await?
                    .and_then(|f| f.refresh),
            )
        }
    };

    // Start: a family with its chain, and one without.
    let fam = with_chain(3600);
    refresh.start_family(&fam).await?;
    let got = refresh
        .family(tenant, &fam.family_id, now)
        .await?
        .ok_or_else(|| missing("a started family"))?;
    ensure!(
        same_family(&got, &fam),
        "a family and its chain read back as written: {got:?}"
    );
    let bare = Family {
        auth_time: None,
        ..family_record(tenant, &cid, &uid, 2, now)
    };
    refresh.start_family(&bare).await?;
    ensure!(
        refresh
            .family(tenant, &bare.family_id, now)
            .await?
            .is_some_and(|f| same_family(&f, &bare) && f.refresh.is_none()),
        "a family without refresh tokens (nor an authentication time) reads back without them"
    );
    ensure!(
        refresh.family(&other, &fam.family_id, now).await?.is_none(),
        "families are not visible under another tenant"
    );
    ensure!(
        refresh
            .family(tenant, &fam.family_id, Now(fam.expires_at - 1))
            .await?
            .is_some()
            && refresh
                .family(tenant, &fam.family_id, Now(fam.expires_at))
                .await?
                .is_none(),
        "a family reads as absent from its expiry on"
    );

    // Rotation: one conditional write.
    let c1 = fam.refresh.clone().ok_or_else(|| missing("chain"))?;
    let c2 = next_of(&c1, at(5), "api");
    ensure!(
        refresh.rotate(&fam, &c2, c2.expires_at + 10, at(5)).await?,
        "the current token rotates"
    );
    let after = refresh
        .family(tenant, &fam.family_id, at(5))
        .await?
        .ok_or_else(|| missing("the rotated family"))?;
    ensure!(
        after.refresh.as_ref() == Some(&c2)
            && after.expires_at == c2.expires_at + 10
            && !after.revoked
            && after.client_id == cid
            && after.created_at == fam.created_at
            && after.auth_time == fam.auth_time,
        "a rotation records the new current token, its generation and times, when it \
         committed and the requested scope, and extends the family: {after:?}"
    );
    let c3 = next_of(&c1, at(6), "api");
    ensure!(
        !refresh.rotate(&fam, &c3, c3.expires_at, at(6)).await?,
        "a token that was rotated does not rotate again (the family as read is stale)"
    );
    ensure!(
        chain_now(&fam, at(6)).await?.as_ref() == Some(&c2),
        "a refused rotation writes nothing"
    );
    let c4 = next_of(&c2, at(7), "");
    ensure!(
        refresh.rotate(&after, &c4, c4.expires_at, at(7)).await?
            && chain_now(&fam, at(7))
                .await?
                .is_some_and(|c| c.generation == 2
                    && c.last_rotation
                        .as_ref()
                        .is_some_and(|r| r.retry_scope.is_empty())),
        "the new current token rotates in turn"
    );
    ensure!(
        !refresh.rotate(&bare, &c2, c2.expires_at, at(7)).await?
            && refresh
                .family(tenant, &bare.family_id, at(7))
                .await?
                .is_some_and(|f| f.refresh.is_none()),
        "a family without a chain does not rotate"
    );

    // An expired current token does not rotate.
    let fe = with_chain(50);
    refresh.start_family(&fe).await?;
    let ce = fe.refresh.clone().ok_or_else(|| missing("chain"))?;
    ensure!(
        !refresh
            .rotate(&fe, &next_of(&ce, at(50), ""), t0 + 4000, at(50))
            .await?
            && refresh
                .rotate(&fe, &next_of(&ce, at(49), ""), t0 + 4000, at(49))
                .await?,
        "a current token rotates until its expiry, not from it on"
    );

    // Revocation: nothing rotates any more.
    let fr = with_chain(3600);
    refresh.start_family(&fr).await?;
    refresh.revoke_family(tenant, &fr.family_id, at(7)).await?;
    let revoked = refresh
        .family(tenant, &fr.family_id, at(7))
        .await?
        .ok_or_else(|| missing("the revoked family"))?;
    ensure!(
        revoked.revoked
            && revoked.expires_at == fr.expires_at
            && revoked.client_id == cid
            && revoked.refresh == fr.refresh,
        "revoking a family marks it revoked and keeps the rest: {revoked:?}"
    );
    let cr = fr.refresh.clone().ok_or_else(|| missing("chain"))?;
    ensure!(
        !refresh
            .rotate(&fr, &next_of(&cr, at(8), ""), t0 + 4000, at(8))
            .await?
            && chain_now(&fr, at(8)).await?.as_ref() == Some(&cr),
        "the current token of a revoked family does not rotate, nothing written"
    );
    refresh.revoke_family(tenant, &fr.family_id, at(9)).await?;
    ensure!(
        refresh
            .family(tenant, &fr.family_id, at(9))
            .await?
            .is_some_and(|f| f.revoked && f.expires_at == fr.expires_at),
        "revoking twice changes nothing"
    );

    // A family that does not exist does not rotate, and is not created.
    let ghost = with_chain(3600);
    let cg = ghost.refresh.clone().ok_or_else(|| missing("chain"))?;
    ensure!(
        !refresh
            .rotate(&ghost, &next_of(&cg, at(1), ""), t0 + 4000, at(1))
            .await?
            && refresh
                .family(tenant, &ghost.family_id, at(1))
                .await?
                .is_none(),
        "a family that does not exist does not rotate"
    );

    // A tombstone: a revocation before the family exists, kept by the start.
    let tomb = random_token(16);
    refresh.revoke_family(tenant, &tomb, now).await?;
    // A tombstone alone (no client, no user) reads as no family: never a
    // live one, and never an error. Pinned exactly, so that a change on
    // either side is deliberate.
    let read = refresh.family(tenant, &tomb, now).await;
    ensure!(
        matches!(read, Ok(None)),
        "a tombstone alone reads as absent, never as a live family: {read:?}"
    );
    let ft = Family {
        family_id: tomb.clone(),
        ..with_chain(3600)
    };
    refresh.start_family(&ft).await?;
    ensure!(
        refresh
            .family(tenant, &tomb, now)
            .await?
            .is_some_and(|f| f.revoked && f.client_id == cid && f.refresh == ft.refresh),
        "a family started over a tombstone stays revoked"
    );
    let ct = ft.refresh.clone().ok_or_else(|| missing("chain"))?;
    ensure!(
        !refresh
            .rotate(&ft, &next_of(&ct, at(1), ""), t0 + 4000, at(1))
            .await?,
        "a family started over a tombstone does not rotate"
    );

    // 20 concurrent rotations of one token: exactly one wins.
    let fc = with_chain(3600);
    refresh.start_family(&fc).await?;
    let cc = fc.refresh.clone().ok_or_else(|| missing("chain"))?;
    let nexts: Vec<RefreshChain> = (0..20).map(|_| next_of(&cc, at(20), "")).collect();
    let results = join_all(
        nexts
            .iter()
            .map(|n| refresh.rotate(&fc, n, n.expires_at, at(20)))
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Ok(true)))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        winners.len() == 1 && results.iter().all(Result::is_ok),
        "exactly one of 20 concurrent rotations wins, the others are refused: {results:?}"
    );
    let w = winners.first().copied().unwrap_or_default();
    ensure!(
        chain_now(&fc, at(20)).await?.as_ref() == nexts.get(w),
        "the family holds the winner's chain"
    );
    Ok(())
}

// ---- ThrottleStore ---------------------------------------------------------------

/// The password-guess throttle: per key and tenant, at most `per_source`
/// reservations from one source and `all_sources` from all of them in any
/// `window` seconds (sliding, no edge), however many callers race; a slot
/// given back is free again, and giving back a slot that is no longer ours
/// changes nothing.
pub async fn throttle_contract(
    throttle: &dyn ThrottleStore,
    tenant: &TenantId,
    now: Now,
) -> Outcome {
    use Reservation::{Denied, Granted};
    let other = sibling(tenant)?;
    let t0 = now.secs();
    let at = |s: u64| Now(t0 + s);
    let key = || format!("U#{}", random_token(12));
    let src = |i: u32| Source::from_ip(Some(&format!("192.0.2.{i}")));
    let (a, b) = (src(1), src(2));
    // Three places in all, two per source.
    let budget = Budget {
        per_source: 2,
        all_sources: 3,
        window: 900,
    };
    let granted = |r: &Reservation| matches!(r, Granted(_));

    let k1 = key();
    for (i, s) in [(0, &a), (1, &a), (2, &b)] {
        let r = throttle.reserve(tenant, &k1, s, budget, at(i)).await?;
        ensure!(granted(&r), "reservation {i} is granted: {r:?}");
    }
    let steps = [
        (
            &a,
            3,
            Denied { retry_after: 897 },
            "a source's budget is spent",
        ),
        (
            &src(3),
            3,
            Denied { retry_after: 897 },
            "all places are held",
        ),
        (
            &b,
            899,
            Denied { retry_after: 1 },
            "still full 1 s before the oldest leaves",
        ),
    ];
    for (s, t, want, rule) in steps {
        let got = throttle.reserve(tenant, &k1, s, budget, at(t)).await?;
        ensure!(got == want, "{rule}: at +{t} s got {got:?}, want {want:?}");
    }
    let got = throttle.reserve(tenant, &k1, &b, budget, at(900)).await?;
    ensure!(
        granted(&got),
        "a reservation leaves the window exactly `window` seconds later: {got:?}"
    );
    ensure!(
        throttle.reserve(tenant, &k1, &b, budget, at(900)).await? == (Denied { retry_after: 2 }),
        "the freed place is taken once, and b now holds two"
    );

    // Giving back.
    let k2 = key();
    let Granted(first) = throttle.reserve(tenant, &k2, &a, budget, now).await? else {
        return Err(Violation("a fresh key grants".into()));
    };
    let Granted(second) = throttle.reserve(tenant, &k2, &a, budget, now).await? else {
        return Err(Violation("a fresh key grants twice".into()));
    };
    ensure!(
        throttle.reserve(tenant, &k2, &a, budget, now).await? == (Denied { retry_after: 900 }),
        "two from one source"
    );
    throttle.release(tenant, &k2, &first).await?;
    let third = throttle.reserve(tenant, &k2, &a, budget, at(1)).await?;
    ensure!(
        granted(&third),
        "a slot given back is free again: {third:?}"
    );
    throttle.release(tenant, &k2, &first).await?;
    ensure!(
        throttle.reserve(tenant, &k2, &a, budget, at(2)).await? == (Denied { retry_after: 898 }),
        "giving back a slot someone else holds now changes nothing"
    );
    throttle.release(tenant, &k2, &second).await?;
    throttle.release(tenant, &k2, &second).await?;
    let again = throttle.reserve(tenant, &k2, &a, budget, at(3)).await?;
    ensure!(granted(&again), "released once, taken once: {again:?}");
    throttle.release(&other, &key(), &second).await?;

    ensure!(
        granted(&throttle.reserve(tenant, &key(), &a, budget, at(3)).await?),
        "keys are independent"
    );
    ensure!(
        granted(&throttle.reserve(&other, &k1, &a, budget, at(3)).await?),
        "tenants are independent"
    );

    // 20 concurrent reservations from one source (5 allowed), then 40 from
    // 40 sources (25 allowed), twice.
    let spec = Budget::PASSWORDS;
    let k3 = key();
    for (round, when) in [(1, now), (2, at(900))] {
        let one = src(200);
        let results = join_all(
            (0..20)
                .map(|_| throttle.reserve(tenant, &k3, &one, spec, when))
                .collect(),
        )
        .await;
        let ok = results
            .iter()
            .filter(|r| matches!(r, Ok(Granted(_))))
            .count();
        let denied = results
            .iter()
            .filter(|r| matches!(r, Ok(Denied { retry_after }) if (1..=900).contains(retry_after)))
            .count();
        ensure!(
            ok == 5 && denied == 15,
            "round {round}: exactly 5 of 20 concurrent reservations from one source: {results:?}"
        );
        let many: Vec<Source> = (0..40).map(src).collect();
        let results = join_all(
            many.iter()
                .map(|s| throttle.reserve(tenant, &k3, s, spec, when))
                .collect(),
        )
        .await;
        let ok = results
            .iter()
            .filter(|r| matches!(r, Ok(Granted(_))))
            .count();
        ensure!(
            ok == 20 && results.iter().all(Result::is_ok),
            "round {round}: the 20 places left go to 20 of 40 concurrent sources: {results:?}"
        );
    }
    ensure!(
        throttle
            .reserve(tenant, &k3, &src(77), spec, at(1799))
            .await?
            == (Denied { retry_after: 1 }),
        "after the second round the budget is spent until its reservations leave"
    );
    Ok(())
}

// ---- LoginTxStore ----------------------------------------------------------------

/// Login transactions: each id is used once per tenant, even under races.
pub async fn login_tx_contract(txs: &dyn LoginTxStore, tenant: &TenantId, now: Now) -> Outcome {
    let other = sibling(tenant)?;
    let exp = now.plus(600);
    let id = random_token(16);
    ensure!(
        txs.use_once(tenant, &id, exp).await.is_ok(),
        "a fresh transaction is used"
    );
    ensure!(
        matches!(
            txs.use_once(tenant, &id, exp).await,
            Err(StoreError::AlreadyExists)
        ),
        "a transaction is used once (AlreadyExists)"
    );
    ensure!(
        txs.use_once(tenant, &random_token(16), exp).await.is_ok(),
        "transactions are independent"
    );
    ensure!(
        txs.use_once(&other, &id, exp).await.is_ok(),
        "transaction ids are per tenant"
    );
    let raced = random_token(16);
    let results = join_all((0..20).map(|_| txs.use_once(tenant, &raced, exp)).collect()).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let used = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::AlreadyExists)))
        .count();
    ensure!(
        ok == 1 && used == 19,
        "exactly one of 20 concurrent uses of a transaction succeeds: {results:?}"
    );
    Ok(())
}

// ---- SecretSource and Clock --------------------------------------------------------

/// A secret that exists reads as its value, one that does not as `None`.
pub async fn secrets_contract(
    secrets: &dyn SecretSource,
    present: &str,
    value: &str,
    absent: &str,
) -> Outcome {
    ensure!(
        secrets.fetch(present).await?.as_deref() == Some(value),
        "an existing secret reads as its value"
    );
    ensure!(
        secrets.fetch(absent).await?.is_none(),
        "a missing secret reads as None, not an error"
    );
    let results = join_all((0..8).map(|_| secrets.fetch(present)).collect()).await;
    ensure!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Some(v)) if v == value)),
        "concurrent reads agree"
    );
    Ok(())
}

/// The time never goes backwards between two reads.
pub fn clock_contract(clock: &dyn Clock) -> Outcome {
    let a = clock.now();
    let b = clock.now();
    ensure!(b >= a, "the clock went backwards: {a:?} then {b:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SystemClock;
    use crate::testing::fakes::{FakeSecrets, ManualClock};
    use std::sync::Arc;

    const NOW: Now = Now(1_700_000_000);

    fn tenant() -> TenantId {
        TenantId::parse("contract").unwrap()
    }

    fn check(r: Outcome) {
        if let Err(v) = r {
            panic!("{v}");
        }
    }

    #[tokio::test]
    async fn fake_directory_keeps_the_contract() {
        let s = FakeStore::new();
        check(directory_contract(&s, &s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_users_keep_the_contract() {
        let s = FakeStore::new();
        check(users_contract(&s, &s, &tenant()).await);
    }

    #[tokio::test]
    async fn fake_codes_keep_the_contract() {
        let s = FakeStore::new();
        check(codes_contract(&s, &s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_refresh_tokens_keep_the_contract() {
        let s = FakeStore::new();
        check(refresh_contract(&s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_throttle_keeps_the_contract() {
        let s = FakeStore::new();
        check(throttle_contract(&s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_connections_keep_the_contract() {
        let s = FakeStore::new();
        check(connections_contract(&s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_upstream_txs_keep_the_contract() {
        let s = FakeStore::new();
        check(upstream_tx_contract(&s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_login_txs_keep_the_contract() {
        let s = FakeStore::new();
        check(login_tx_contract(&s, &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_store_keeps_the_whole_contract_on_one_tenant() {
        let s = FakeStore::new();
        check(storage_contract(&Stores::of(&s), &tenant(), NOW).await);
    }

    #[tokio::test]
    async fn fake_providers_keep_the_contract() {
        let s = FakeStore::new();
        check(providers_contract(&s, &TenantId::parse("acme").unwrap()).await);
    }

    #[tokio::test]
    async fn fake_secrets_keep_the_contract() {
        let s = FakeSecrets::new();
        s.put("p/present", "v4lue");
        check(secrets_contract(&s, "p/present", "v4lue", "p/absent").await);
    }

    #[test]
    fn clocks_keep_the_contract() {
        check(clock_contract(&SystemClock));
        let c = ManualClock::new(10);
        check(clock_contract(&c));
        c.advance(5);
        assert_eq!(c.now(), Now(15));
        c.set(3);
        assert_eq!(c.now(), Now(3));
    }

    /// The fakes' atomicity does not rely on a single-threaded executor:
    /// OS threads racing on one store still get exactly `max` reservations
    /// and one redemption.
    #[test]
    fn fake_store_is_atomic_across_threads() {
        let store = Arc::new(FakeStore::new());
        let t = tenant();
        let code = code_record(
            &t,
            "h",
            &ClientId::parse("abcdefghij0123456789").unwrap(),
            &UserId::parse("u1").unwrap(),
            NOW.plus(60),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.put(&code)).unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (store, t, barrier) = (store.clone(), t.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    barrier.wait();
                    rt.block_on(async {
                        let src = Source::from_ip(Some("192.0.2.1"));
                        let r = store
                            .reserve(&t, "k", &src, Budget::PASSWORDS, NOW)
                            .await
                            .unwrap();
                        let fam = format!("f{i}");
                        let c = store.redeem(&t, "h", &fam, None, NOW).await.unwrap();
                        (matches!(r, Reservation::Granted(_)), c.is_ok())
                    })
                })
            })
            .collect();
        let results: Vec<(bool, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.0).count(), 5);
        assert_eq!(results.iter().filter(|r| r.1).count(), 1);
    }
}
