//! API tokens: 32 random bytes shown once, stored as their SHA-256; each with a role and a site.

use rand::RngExt;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, now_ms};

/// What a token may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Upload exams and see those of their own site.
    Clinician,
    /// Everything, including tokens and the audit log.
    Admin,
}

impl Role {
    /// The name in the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "admin" {
            Role::Admin
        } else {
            Role::Clinician
        }
    }
}

/// A token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    /// Its id.
    pub id: String,
    /// Who or what uses it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The site whose exams it sees.
    pub site: String,
    /// When it was made, ms since the epoch.
    pub created_ms: i64,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random identifier of `bytes` random bytes, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

fn row(r: &sqlx::any::AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: Role::parse(&r.try_get::<String, _>("role")?),
        site: r.try_get("site")?,
        created_ms: r.try_get("created_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The token no longer opens anything.
    Done,
    /// No live token has that id.
    NoSuchToken,
    /// It is the last live admin token: revoking it would lock every admin out.
    LastAdmin,
}

impl Store {
    /// Makes a token and returns its row and its secret (shown once: only the hash is kept).
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        site: &str,
    ) -> Result<(TokenRow, String), sqlx::Error> {
        let secret = format!("crt_{}", random_hex(32));
        let token = TokenRow {
            id: random_hex(8),
            name: name.into(),
            role,
            site: site.into(),
            created_ms: now_ms(),
            revoked_ms: None,
        };
        sqlx::query(
            "INSERT INTO tokens (id, name, role, site, hash, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(role.name())
        .bind(&token.site)
        .bind(hash(&secret))
        .bind(token.created_ms)
        .execute(self.pool())
        .await?;
        Ok((token, secret))
    }

    /// The live token whose secret is `secret`.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        sqlx::query(
            "SELECT id, name, role, site, created_ms, revoked_ms FROM tokens WHERE hash = $1 AND revoked_ms IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(self.pool())
        .await?
        .map(|r| row(&r))
        .transpose()
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query(
            "SELECT id, name, role, site, created_ms, revoked_ms FROM tokens ORDER BY created_ms DESC",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(row)
        .collect()
    }

    /// Revokes token `id`; false when there is no such live token.
    pub async fn revoke_token(&self, id: &str) -> Result<Revoked, sqlx::Error> {
        // One statement: two admins revoking each other at once cannot both succeed.
        let done = sqlx::query(
            "UPDATE tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL \
             AND (role <> 'admin' OR \
                  (SELECT COUNT(*) FROM tokens WHERE role = 'admin' AND revoked_ms IS NULL) > 1)",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Revoked::Done);
        }
        let live = sqlx::query("SELECT role FROM tokens WHERE id = $1 AND revoked_ms IS NULL")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match live {
            Some(_) => Revoked::LastAdmin,
            None => Revoked::NoSuchToken,
        })
    }

    /// Whether a live admin token exists (none on a fresh database, nor once every admin
    /// token was revoked: the next start then makes one).
    pub async fn has_admin(&self) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM tokens WHERE role = 'admin' AND revoked_ms IS NULL",
        )
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }
}
