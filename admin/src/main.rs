//! `tollgate-admin`: provisioning for a Tollgate stack. Same environment as the
//! functions (`TOLLGATE_TABLE`, `TOLLGATE_SECRET_PREFIX`, AWS credentials and
//! region). Prints one JSON object on stdout; on error, one line on stderr and
//! a non-zero exit.

mod connections;
mod providers;

use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::process::ExitCode;
use tollgate::admin::clients::{ClientOpts, ClientUpdate};
use tollgate::admin::tenants::BrandingUpdate;
use tollgate::admin::tenants::{TenantOpts, TenantUpdate};
use tollgate::admin::users::UserOpts;
use tollgate::admin::{Admin, AdminError};

#[derive(Parser)]
#[command(
    name = "tollgate-admin",
    version,
    about = "Provision Tollgate tenants, clients, users, keys, trusted issuers and upstream providers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table (TTL on) and the stack's login key if missing.
    Init,
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCmd,
    },
    /// Clients.
    Client {
        #[command(subcommand)]
        command: ClientCmd,
    },
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCmd,
    },
    /// Trusted external issuers (token exchange).
    Issuer {
        #[command(subcommand)]
        command: IssuerCmd,
    },
    /// Upstream providers (the token vault).
    Provider {
        #[command(subcommand)]
        command: providers::ProviderCmd,
    },
    /// Upstream connections (the token vault): health, removal.
    Connection {
        #[command(subcommand)]
        command: connections::ConnectionCmd,
    },
}

#[derive(Subcommand)]
enum IssuerCmd {
    /// Trust JWTs from an external OpenID provider (replaces its settings if present).
    Add {
        #[arg(long)]
        tenant: String,
        /// Its issuer identifier, exactly as its tokens' `iss`.
        #[arg(long)]
        issuer: String,
        /// An `aud` its tokens carry for this tenant (at least one).
        #[arg(long = "audience", value_name = "AUD", required = true, num_args = 1..)]
        audiences: Vec<String>,
        /// Its JWKS, when not found through `{issuer}/.well-known/openid-configuration`.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// An unlinked subject becomes a new user on its first exchange.
        #[arg(long)]
        create_users: bool,
    },
    List(TenantRef),
    Remove {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        issuer: String,
    },
}

#[derive(Args)]
struct LinkArgs {
    #[command(flatten)]
    user: UserRef,
    #[arg(long)]
    issuer: String,
    /// The subject (`sub`) at that issuer.
    #[arg(long)]
    subject: String,
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Create a tenant with a fresh signing key.
    Create(TenantCreate),
    /// Change a tenant's settings (flags left out keep their values).
    Update(TenantUpdateArgs),
    /// Zero to a tenant in one command: the tenant, its first client and its
    /// first user (password from stdin); nothing is kept if a step fails.
    Bootstrap(Box<TenantBootstrap>),
    /// Show a tenant.
    Get { alias: String },
    /// List tenants (`--limit`, `--next` from the previous page).
    List(ListArgs),
    /// Remove the tenant: every item and secret of it, nothing of any other.
    Delete { alias: String },
}

#[derive(Args)]
struct TenantBootstrap {
    #[command(flatten)]
    tenant: TenantCreate,
    /// The first client's name.
    #[arg(long)]
    client_name: String,
    #[arg(long = "grant", value_name = "GRANT", required = true, num_args = 1..)]
    grants: Vec<String>,
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1..)]
    redirect_uris: Vec<String>,
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    scopes: Vec<String>,
    #[arg(long)]
    public: bool,
    #[arg(long = "web-origin", value_name = "ORIGIN", num_args = 1..)]
    web_origins: Vec<String>,
    /// The first user's username (the password is read from stdin).
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: Option<String>,
    /// The first user's display name.
    #[arg(long)]
    user_name: Option<String>,
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
}

#[derive(Args)]
struct ListArgs {
    #[arg(long)]
    limit: Option<i32>,
    /// The `next` cursor a previous page printed.
    #[arg(long)]
    next: Option<String>,
}

#[derive(Args)]
struct ClientRef {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    client_id: String,
}

#[derive(Args)]
struct UserRef {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    user_id: String,
}

#[derive(Args)]
struct TenantRef {
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Args)]
struct TenantUpdateArgs {
    alias: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<u64>,
    #[arg(long, value_name = "SECS")]
    refresh_token_ttl: Option<u64>,
    /// Replaces the audiences.
    #[arg(long = "audience", value_name = "URI", num_args = 1..)]
    audiences: Option<Vec<String>>,
    /// Sliding expiry maximum; 0 turns sliding expiry off.
    #[arg(long, value_name = "SECS")]
    sliding_max: Option<u64>,
    #[arg(long, value_name = "DAYS")]
    key_rotation_days: Option<u64>,
    #[command(flatten)]
    branding: BrandingArgs,
}

// ---- tenant update: the sign-in page's branding -----------------------------

/// The sign-in page's branding. An empty value removes a setting.
#[derive(Args)]
struct BrandingArgs {
    /// The name shown on the sign-in page ('' removes it: the tenant's name is shown).
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// A PNG logo (at most 32 KiB), shown inline on the sign-in page.
    #[arg(long, value_name = "FILE")]
    logo: Option<std::path::PathBuf>,
    /// Remove the logo.
    #[arg(long)]
    no_logo: bool,
    /// The primary colour, #RRGGBB ('' removes it); text on it is black or
    /// white, whichever is readable.
    #[arg(long, value_name = "#RRGGBB")]
    primary_color: Option<String>,
    /// What a scope lets the application do, in plain words (repeatable;
    /// SCOPE= with no text removes it).
    #[arg(long = "scope-description", value_name = "SCOPE=TEXT")]
    scope_descriptions: Vec<String>,
    /// Remove every branding setting (before applying the other flags).
    #[arg(long)]
    clear_branding: bool,
}

impl BrandingArgs {
    fn into_update(self) -> BrandingUpdate {
        BrandingUpdate {
            clear: self.clear_branding,
            display_name: self.display_name,
            logo_file: self.logo,
            no_logo: self.no_logo,
            primary_color: self.primary_color,
            scope_descriptions: self.scope_descriptions,
        }
    }
}

// -----------------------------------------------------------------------------

#[derive(Args)]
struct TenantCreate {
    alias: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<u64>,
    #[arg(long, value_name = "SECS")]
    refresh_token_ttl: Option<u64>,
    #[arg(long = "audience", value_name = "URI")]
    audiences: Vec<String>,
    /// ES256 (default) or RS256.
    #[arg(long, value_name = "ALG")]
    signing_alg: Option<String>,
    /// Sliding expiry (Maximizer): access tokens stay active while used, up
    /// to this many seconds after issue.
    #[arg(long, value_name = "SECS")]
    sliding_max: Option<u64>,
    /// Days between automatic key rotations (default 90).
    #[arg(long, value_name = "DAYS")]
    key_rotation_days: Option<u64>,
}

impl TenantCreate {
    fn into_opts(self) -> (String, TenantOpts) {
        let opts = TenantOpts {
            name: self.name,
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            audiences: self.audiences,
            sliding_max: self.sliding_max,
            key_rotation_days: self.key_rotation_days,
            signing_alg: self.signing_alg,
        };
        (self.alias, opts)
    }
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Register a client; prints its id and (once) its secret.
    Create(ClientCreate),
    /// Change a client's settings (flags left out keep their values; a list replaces).
    Update(ClientUpdateArgs),
    Get(ClientRef),
    List(TenantRef),
    /// It can no longer authenticate; its tokens are reported inactive.
    Disable(ClientRef),
    Enable(ClientRef),
    Delete(ClientRef),
    /// A new secret (printed once); the old one works for `--grace` seconds.
    RotateSecret {
        #[command(flatten)]
        client: ClientRef,
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        grace: u64,
    },
}

#[derive(Args)]
struct ClientUpdateArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1..)]
    redirect_uris: Option<Vec<String>>,
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    scopes: Option<Vec<String>>,
    #[arg(long = "web-origin", value_name = "ORIGIN", num_args = 1..)]
    web_origins: Option<Vec<String>>,
    /// true: a resource server that may introspect every token of the tenant.
    #[arg(long, value_name = "true|false")]
    introspect: Option<bool>,
}

#[derive(Args)]
struct ClientCreate {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
    #[arg(long = "grant", value_name = "GRANT", required = true, num_args = 1..)]
    grants: Vec<String>,
    #[arg(long = "redirect-uri", value_name = "URI", num_args = 1..)]
    redirect_uris: Vec<String>,
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    scopes: Vec<String>,
    #[arg(long)]
    public: bool,
    #[arg(long)]
    require_pkce: bool,
    #[arg(long)]
    require_offline_access: bool,
    /// Origin of a browser app of this client (CORS), e.g. https://app.example.
    #[arg(long = "web-origin", value_name = "ORIGIN", num_args = 1..)]
    web_origins: Vec<String>,
    /// A resource server: may introspect every token of the tenant.
    #[arg(long)]
    introspect: bool,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user; the password is read from stdin.
    Create(UserCreate),
    Get(UserRef),
    List(TenantRef),
    /// Change the profile (`--email`, `--name`, `--attr KEY=VALUE`; empty removes).
    Update {
        #[command(flatten)]
        user: UserRef,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "attr", value_name = "KEY=VALUE")]
        attrs: Vec<String>,
        #[arg(long, value_name = "true|false")]
        require_password_change: Option<bool>,
    },
    /// It can no longer sign in; its tokens are reported inactive.
    Disable(UserRef),
    Enable(UserRef),
    Delete(UserRef),
    /// Set the password (stdin); ends every session of the user.
    SetPassword {
        #[command(flatten)]
        user: UserRef,
        #[arg(long)]
        require_password_change: bool,
    },
    /// Lift the password-check throttle.
    Unlock(UserRef),
    /// Revoke every refresh token (every session) of the user.
    RevokeTokens(UserRef),
    /// Map a subject of a trusted issuer to this user (token exchange).
    Link(LinkArgs),
    /// Remove such a mapping.
    Unlink(LinkArgs),
}

#[derive(Args)]
struct UserCreate {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
    #[arg(long)]
    require_password_change: bool,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Make a new current signing key; the old one stays published.
    Rotate {
        #[arg(long)]
        tenant: String,
    },
}

/// The password is stdin, minus one trailing newline.
pub(crate) fn read_password() -> Result<String, AdminError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| AdminError(format!("cannot read the password from stdin: {e}")))?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

async fn run(cli: Cli) -> Result<serde_json::Value, AdminError> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let config = tollgate::Config::from_env();
    let clients = tollgate::store::aws::Clients::new(&sdk, &config.table);
    let admin = Admin::new(config, clients);
    match cli.command {
        Command::Init => admin.init().await,
        Command::Tenant {
            command: TenantCmd::Create(t),
        } => {
            let (alias, opts) = t.into_opts();
            admin.create_tenant(&alias, opts).await
        }
        Command::Tenant {
            command: TenantCmd::Update(t),
        } => {
            admin
                .update_tenant(
                    &t.alias,
                    TenantUpdate {
                        name: t.name,
                        access_token_ttl: t.access_token_ttl,
                        refresh_token_ttl: t.refresh_token_ttl,
                        audiences: t.audiences,
                        sliding_max: t.sliding_max,
                        key_rotation_days: t.key_rotation_days,
                        branding: t.branding.into_update(),
                    },
                )
                .await
        }
        Command::Client {
            command: ClientCmd::Update(c),
        } => {
            admin
                .update_client(ClientUpdate {
                    tenant: c.tenant,
                    client_id: c.client_id,
                    name: c.name,
                    redirect_uris: c.redirect_uris,
                    scopes: c.scopes,
                    web_origins: c.web_origins,
                    introspect: c.introspect,
                })
                .await
        }
        Command::Tenant {
            command: TenantCmd::Bootstrap(b),
        } => {
            let password = read_password()?;
            let b = *b;
            let (alias, opts) = b.tenant.into_opts();
            admin
                .bootstrap_tenant(
                    &alias,
                    opts,
                    ClientOpts {
                        tenant: alias.clone(),
                        name: b.client_name,
                        grants: b.grants,
                        redirect_uris: b.redirect_uris,
                        scopes: b.scopes,
                        public: b.public,
                        require_pkce: false,
                        require_offline_access: false,
                        web_origins: b.web_origins,
                        introspect: false,
                    },
                    UserOpts {
                        tenant: alias.clone(),
                        username: b.username,
                        email: b.email,
                        name: b.user_name,
                        attrs: b.attrs,
                        require_password_change: false,
                    },
                    &password,
                )
                .await
        }
        Command::Tenant {
            command: TenantCmd::Get { alias },
        } => admin.get_tenant(&alias).await,
        Command::Tenant {
            command: TenantCmd::List(l),
        } => admin.list_tenants(l.limit, l.next.as_deref()).await,
        Command::Tenant {
            command: TenantCmd::Delete { alias },
        } => admin.delete_tenant(&alias).await,
        Command::Client {
            command: ClientCmd::Get(c),
        } => admin.get_client(&c.tenant, &c.client_id).await,
        Command::Client {
            command: ClientCmd::List(t),
        } => {
            admin
                .list_clients(&t.tenant, t.list.limit, t.list.next.as_deref())
                .await
        }
        Command::Client {
            command: ClientCmd::Disable(c),
        } => {
            admin
                .set_client_enabled(&c.tenant, &c.client_id, false)
                .await
        }
        Command::Client {
            command: ClientCmd::Enable(c),
        } => {
            admin
                .set_client_enabled(&c.tenant, &c.client_id, true)
                .await
        }
        Command::Client {
            command: ClientCmd::Delete(c),
        } => admin.delete_client(&c.tenant, &c.client_id).await,
        Command::Client {
            command: ClientCmd::RotateSecret { client, grace },
        } => {
            admin
                .rotate_client_secret(&client.tenant, &client.client_id, grace)
                .await
        }
        Command::User {
            command: UserCmd::Get(u),
        } => admin.get_user(&u.tenant, &u.user_id).await,
        Command::User {
            command: UserCmd::List(t),
        } => {
            admin
                .list_users(&t.tenant, t.list.limit, t.list.next.as_deref())
                .await
        }
        Command::User {
            command:
                UserCmd::Update {
                    user,
                    email,
                    name,
                    attrs,
                    require_password_change,
                },
        } => {
            admin
                .update_user(
                    &user.tenant,
                    &user.user_id,
                    email,
                    name,
                    attrs,
                    require_password_change,
                )
                .await
        }
        Command::User {
            command: UserCmd::Disable(u),
        } => admin.set_user_enabled(&u.tenant, &u.user_id, false).await,
        Command::User {
            command: UserCmd::Enable(u),
        } => admin.set_user_enabled(&u.tenant, &u.user_id, true).await,
        Command::User {
            command: UserCmd::Delete(u),
        } => admin.delete_user(&u.tenant, &u.user_id).await,
        Command::User {
            command:
                UserCmd::SetPassword {
                    user,
                    require_password_change,
                },
        } => {
            let password = read_password()?;
            admin
                .set_user_password(
                    &user.tenant,
                    &user.user_id,
                    &password,
                    require_password_change,
                )
                .await
        }
        Command::User {
            command: UserCmd::Unlock(u),
        } => admin.unlock_user(&u.tenant, &u.user_id).await,
        Command::User {
            command: UserCmd::RevokeTokens(u),
        } => admin.revoke_user_tokens(&u.tenant, &u.user_id).await,
        Command::Client {
            command: ClientCmd::Create(c),
        } => {
            admin
                .create_client(ClientOpts {
                    tenant: c.tenant,
                    name: c.name,
                    grants: c.grants,
                    redirect_uris: c.redirect_uris,
                    scopes: c.scopes,
                    public: c.public,
                    require_pkce: c.require_pkce,
                    require_offline_access: c.require_offline_access,
                    web_origins: c.web_origins,
                    introspect: c.introspect,
                })
                .await
        }
        Command::User {
            command: UserCmd::Create(u),
        } => {
            let password = read_password()?;
            admin
                .create_user(
                    UserOpts {
                        tenant: u.tenant,
                        username: u.username,
                        email: u.email,
                        name: u.name,
                        attrs: u.attrs,
                        require_password_change: u.require_password_change,
                    },
                    &password,
                )
                .await
        }
        Command::Key {
            command: KeyCmd::Rotate { tenant },
        } => admin.rotate_key(&tenant).await,
        Command::Issuer {
            command:
                IssuerCmd::Add {
                    tenant,
                    issuer,
                    audiences,
                    jwks_uri,
                    create_users,
                },
        } => {
            admin
                .add_issuer(tollgate::admin::issuers::IssuerOpts {
                    tenant,
                    issuer,
                    audiences,
                    jwks_uri,
                    create_users,
                })
                .await
        }
        Command::Provider { command } => providers::run(&admin, command).await,
        Command::Connection { command } => connections::run(&admin, command).await,
        Command::Issuer {
            command: IssuerCmd::List(t),
        } => admin.list_issuers(&t.tenant).await,
        Command::Issuer {
            command: IssuerCmd::Remove { tenant, issuer },
        } => admin.remove_issuer(&tenant, &issuer).await,
        Command::User {
            command: UserCmd::Link(l),
        } => {
            admin
                .link_user(&l.user.tenant, &l.user.user_id, &l.issuer, &l.subject)
                .await
        }
        Command::User {
            command: UserCmd::Unlink(l),
        } => {
            admin
                .unlink_user(&l.user.tenant, &l.user.user_id, &l.issuer, &l.subject)
                .await
        }
    }
}

/// Every change made with the CLI is an audit line (SPEC: Observability), on
/// stderr after a success, stdout keeping its one JSON object: the command,
/// the tenant and the record it changed — ids only, never a secret (passwords
/// come from stdin, secrets are only ever printed on stdout).
fn audit_line(args: &[String]) -> Option<String> {
    let words: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let (kind, verb) = match words.as_slice() {
        [k, v, ..] if !v.starts_with('-') => (*k, *v),
        _ => return None,
    };
    if matches!(verb, "get" | "list") || kind == "init" {
        return None;
    }
    let flag = |name: &str| {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1))
            .map(|v| v.to_string())
    };
    let tenant = flag("--tenant").or_else(|| {
        (kind == "tenant")
            .then(|| {
                words
                    .get(2)
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| w.to_string())
            })
            .flatten()
    });
    Some(
        serde_json::json!({
            "event": "admin_change",
            "command": format!("{kind} {verb}"),
            "tenant": tenant,
            "client_id": flag("--client-id"),
            "user_id": flag("--user-id"),
            "provider": match kind {
                "provider" => flag("--name"),
                "connection" => flag("--provider"),
                _ => None,
            },
        })
        .to_string(),
    )
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            print!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let first = e.to_string();
            let line = first.lines().next().unwrap_or("invalid arguments");
            eprintln!("tollgate-admin: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tollgate-admin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(v) => {
            // A closed stdout (`| head`) is not worth a panic.
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "{v}");
            if let Some(line) = audit_line(&std::env::args().collect::<Vec<_>>()) {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            eprintln!("tollgate-admin: {msg}");
            ExitCode::FAILURE
        }
    }
}
