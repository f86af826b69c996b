//! `tollgate-admin connection list|get|remove` (SPEC: Provisioning CLI,
//! Upstream providers — Health): the health of upstream connections, and
//! removing one (its refresh token revoked at the provider where it can).
//! Without `--user-id`, `get` and `remove` name the tenant's service
//! connection. Nothing printed is ever a token or a ciphertext.

use clap::{Args, Subcommand};
use tollgate::admin::{Admin, AdminError};

#[derive(Subcommand)]
pub enum ConnectionCmd {
    /// List connections: the tenant's, a user's, or one provider's.
    List {
        #[arg(long)]
        tenant: String,
        /// Only this user's connections.
        #[arg(long)]
        user_id: Option<String>,
        /// Only connections to this provider.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Show one connection's health.
    Get(ConnectionRef),
    /// Remove a connection and revoke its refresh token at the provider.
    Remove(ConnectionRef),
}

#[derive(Args)]
pub struct ConnectionRef {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    provider: String,
    /// The user whose connection it is (without: the tenant's service connection).
    #[arg(long)]
    user_id: Option<String>,
}

pub async fn run(admin: &Admin, cmd: ConnectionCmd) -> Result<serde_json::Value, AdminError> {
    match cmd {
        ConnectionCmd::List {
            tenant,
            user_id,
            provider,
        } => {
            admin
                .list_connections(&tenant, user_id.as_deref(), provider.as_deref())
                .await
        }
        ConnectionCmd::Get(r) => {
            admin
                .get_connection(&r.tenant, &r.provider, r.user_id.as_deref())
                .await
        }
        ConnectionCmd::Remove(r) => {
            admin
                .remove_connection(&r.tenant, &r.provider, r.user_id.as_deref())
                .await
        }
    }
}
