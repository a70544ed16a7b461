//! Dashboard administrators: first-start bootstrap, throttled sign-in, password resets that end
//! sessions, and the signed token of the sign-in form.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::passwords::{HashError, PasswordHasher};
use crate::domain::role::AdminRole;
use crate::domain::secret::random_password;
use crate::domain::username::AdminUsername;
use crate::store::{AdminSessionState, AttemptVerdict, SignInLimits, SignInSettlement, Store};

use super::{ServiceError, ServiceResult};

const GENERATED_PASSWORD_CHARS: usize = 24;
/// Sign-in form tokens are HMACs of the form cookie's nonce under this label, so they cannot
/// be mistaken for any other use of the server secret.
const FORM_TOKEN_LABEL: &[u8] = b"keyward sign-in form v1\0";

/// The outcome of a dashboard sign-in attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    /// The password is right; `session_epoch` goes into the new session (see
    /// [`AdminService::session_epoch`]).
    Accepted {
        session_epoch: u64,
    },
    Refused,
    /// Too many recent failures from this address, or from it for this username; nothing was
    /// checked. The period ends in this many seconds.
    Throttled {
        retry_secs: u64,
    },
    /// Every hashing slot stayed taken for the whole wait; nothing was checked.
    Busy,
}

/// How a change to another admin (role, disabling, removal) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    Done,
    NotFound,
    /// Refused: it would leave no active `admin`; nothing changed.
    LastAdmin,
}

/// One admin as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSummary {
    pub username: String,
    pub role: AdminRole,
    pub disabled: bool,
}

/// What the first start did about the admin account.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    AlreadyThere,
    CreatedFromSetting,
    /// The password to print once; it is stored only as a hash.
    CreatedWithGenerated(String),
}

pub struct AdminServiceSettings {
    pub sign_in_limits: SignInLimits,
    pub hasher: PasswordHasher,
    /// The server secret shared by every instance (the encryption key): signs the sign-in form
    /// token, so any instance accepts a form another one served.
    pub form_secret: String,
}

#[derive(Clone)]
pub struct AdminService {
    store: Store,
    limits: SignInLimits,
    hasher: PasswordHasher,
    form_mac: Hmac<Sha256>,
}

fn hashing_failed(error: HashError) -> ServiceError {
    ServiceError::internal("cannot hash the password", error)
}

/// What the sign-in throttle counts per: an IPv4 address, or an IPv6 /64 (one subscriber's
/// usual allocation, so an attacker cannot get fresh counters by cycling through it).
pub fn client_scope(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

impl AdminService {
    pub fn new(store: Store, settings: AdminServiceSettings) -> AdminService {
        // A key of HMAC-SHA256's block size; HMAC pads shorter keys with zeros the same way.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&Sha256::digest(settings.form_secret.as_bytes()));
        AdminService {
            store,
            limits: settings.sign_in_limits,
            hasher: settings.hasher,
            form_mac: Hmac::<Sha256>::new(&key.into()),
        }
    }

    /// Makes sure the admin exists: with `initial_password` when given, else a generated one.
    pub async fn bootstrap(
        &self,
        username: &AdminUsername,
        initial_password: Option<&str>,
    ) -> ServiceResult<Bootstrap> {
        if let Some(admin) = self.store.admin(username.as_str()).await? {
            // Records from before the admin list and roster existed join them here.
            self.store.list_admin(username.as_str()).await?;
            if admin.role == AdminRole::Admin && !admin.disabled {
                self.store.join_admin_roster(username.as_str()).await?;
            }
            return Ok(Bootstrap::AlreadyThere);
        }
        let (password, generated) = match initial_password {
            Some(p) => (p.to_string(), false),
            None => (random_password(GENERATED_PASSWORD_CHARS), true),
        };
        let hash = self.hasher.hash(&password).await.map_err(hashing_failed)?;
        // The first admin manages everything, including the admins after it.
        if !self
            .store
            .create_admin(username.as_str(), &hash, AdminRole::Admin)
            .await?
        {
            return Ok(Bootstrap::AlreadyThere);
        }
        self.store.list_admin(username.as_str()).await?;
        self.store.join_admin_roster(username.as_str()).await?;
        Ok(if generated {
            Bootstrap::CreatedWithGenerated(password)
        } else {
            Bootstrap::CreatedFromSetting
        })
    }

    /// Checks a sign-in. The attempt is counted per client address and per address+username
    /// before any password work (so parallel tries cannot slip past the limits, and a refused
    /// one costs no hash), then the password is checked on a bounded hashing slot.
    ///
    /// A failure stays counted for the period. A success forgives the username's failures from
    /// this address but takes back only its own attempt from the address's count, so signing
    /// in to one account never wipes the failures counted against others.
    pub async fn sign_in(
        &self,
        username: &AdminUsername,
        password: &str,
        client: IpAddr,
    ) -> ServiceResult<SignIn> {
        let scope = client_scope(client);
        // Case variants of one name share a counter.
        let counted_name = username.as_str().to_lowercase();
        let verdict = self
            .store
            .count_sign_in_attempt(&scope, &counted_name, self.limits)
            .await?;
        if let AttemptVerdict::Refused { retry_secs } = verdict {
            return Ok(SignIn::Throttled { retry_secs });
        }
        let admin = self.store.admin(username.as_str()).await?;
        let checked = match &admin {
            Some(admin) => self.hasher.verify(password, &admin.password_hash).await,
            // Unknown users cost a hash too, so timing does not reveal which names exist.
            None => self.hasher.hash(password).await.map(|_| false),
        };
        let accepted = match checked {
            Ok(matches) => matches,
            Err(HashError::Busy) => {
                self.store
                    .settle_sign_in_attempt(&scope, &counted_name, SignInSettlement::NotChecked)
                    .await?;
                return Ok(SignIn::Busy);
            }
            Err(error @ HashError::Failed(_)) => {
                tracing::error!(%error, "password check failed");
                false
            }
        };
        match admin {
            // A disabled admin's right password still does not sign in.
            Some(admin) if accepted && !admin.disabled => {
                self.store
                    .settle_sign_in_attempt(&scope, &counted_name, SignInSettlement::Succeeded)
                    .await?;
                Ok(SignIn::Accepted {
                    session_epoch: admin.session_epoch,
                })
            }
            _ => Ok(SignIn::Refused),
        }
    }

    /// The admin's current session epoch and role; `None` when the admin no longer exists. A
    /// session signed in under another epoch is over.
    pub async fn session_state(&self, username: &str) -> ServiceResult<Option<AdminSessionState>> {
        Ok(self.store.admin_session(username).await?)
    }

    /// Adds an admin with `role` and `password` (the caller generates one when none is given);
    /// `false` when an admin of that name already exists (nothing changed).
    pub async fn add(
        &self,
        username: &AdminUsername,
        role: AdminRole,
        password: &str,
    ) -> ServiceResult<bool> {
        let hash = self.hasher.hash(password).await.map_err(hashing_failed)?;
        if !self
            .store
            .create_admin(username.as_str(), &hash, role)
            .await?
        {
            return Ok(false);
        }
        self.store.list_admin(username.as_str()).await?;
        if role == AdminRole::Admin {
            self.store.join_admin_roster(username.as_str()).await?;
        }
        Ok(true)
    }

    /// Every admin with role and status, by username.
    pub async fn list(&self) -> ServiceResult<Vec<AdminSummary>> {
        let mut admins = Vec::new();
        for username in self.store.admin_usernames().await? {
            if let Some(admin) = self.store.admin(&username).await? {
                admins.push(AdminSummary {
                    username,
                    role: admin.role,
                    disabled: admin.disabled,
                });
            }
        }
        Ok(admins)
    }

    /// Whether `username` is an active admin whose leaving the role must pass the last-admin
    /// rule; leaves the roster when it may. `None`: no such admin.
    async fn leave_admin_role(&self, username: &str) -> ServiceResult<Option<bool>> {
        let Some(admin) = self.store.admin(username).await? else {
            return Ok(None);
        };
        if admin.role != AdminRole::Admin || admin.disabled {
            return Ok(Some(true));
        }
        Ok(Some(self.store.leave_admin_roster(username).await?))
    }

    /// Gives an admin another role. Demoting the last active `admin` is refused (atomically:
    /// two admins demoting each other at once leave one of them an admin).
    pub async fn change_role(&self, username: &str, role: AdminRole) -> ServiceResult<AdminChange> {
        if role != AdminRole::Admin {
            match self.leave_admin_role(username).await? {
                None => return Ok(AdminChange::NotFound),
                Some(false) => return Ok(AdminChange::LastAdmin),
                Some(true) => {}
            }
        }
        if !self.store.set_admin_role(username, role).await? {
            return Ok(AdminChange::NotFound);
        }
        if role == AdminRole::Admin {
            self.rejoin_roster(username).await?;
        }
        Ok(AdminChange::Done)
    }

    /// Disables an admin (it cannot sign in, and every session of it ends) or enables it again.
    /// Disabling the last active `admin` is refused.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> ServiceResult<AdminChange> {
        if disabled {
            match self.leave_admin_role(username).await? {
                None => return Ok(AdminChange::NotFound),
                Some(false) => return Ok(AdminChange::LastAdmin),
                Some(true) => {}
            }
        }
        if !self.store.set_admin_disabled(username, disabled).await? {
            return Ok(AdminChange::NotFound);
        }
        if !disabled {
            self.rejoin_roster(username).await?;
        }
        Ok(AdminChange::Done)
    }

    /// Removes an admin (every session of it ends). Removing the last active `admin` is refused.
    pub async fn remove(&self, username: &str) -> ServiceResult<AdminChange> {
        match self.leave_admin_role(username).await? {
            None => return Ok(AdminChange::NotFound),
            Some(false) => return Ok(AdminChange::LastAdmin),
            Some(true) => {}
        }
        self.store.delete_admin(username).await?;
        Ok(AdminChange::Done)
    }

    /// Joins the roster when the record now says active `admin` (read after the write, so the
    /// roster never lists anyone the record does not).
    async fn rejoin_roster(&self, username: &str) -> ServiceResult<()> {
        if let Some(admin) = self.store.admin(username).await? {
            if admin.role == AdminRole::Admin && !admin.disabled {
                self.store.join_admin_roster(username).await?;
            }
        }
        Ok(())
    }

    /// Whether an admin of that name exists.
    pub async fn exists(&self, username: &AdminUsername) -> ServiceResult<bool> {
        Ok(self.store.admin_session(username.as_str()).await?.is_some())
    }

    /// Sets a new password and ends every session of the admin (the session epoch moves on).
    /// Returns the new epoch: a caller that wants to keep its own session (a "change my
    /// password" page) signs that session in again under it.
    pub async fn reset_password(
        &self,
        username: &AdminUsername,
        password: &str,
    ) -> ServiceResult<u64> {
        let hash = self.hasher.hash(password).await.map_err(hashing_failed)?;
        Ok(self
            .store
            .set_admin_password(username.as_str(), &hash)
            .await?)
    }

    /// The sign-in form's token for the nonce in the visitor's form cookie (signed double-submit:
    /// nothing is stored for a visitor who has not signed in).
    pub fn sign_in_form_token(&self, nonce: &str) -> String {
        hex::encode(self.form_mac(nonce).finalize().into_bytes())
    }

    /// Whether `token` is the form token of `nonce` (constant-time).
    pub fn sign_in_form_token_matches(&self, nonce: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|bytes| self.form_mac(nonce).verify_slice(&bytes).is_ok())
    }

    fn form_mac(&self, nonce: &str) -> Hmac<Sha256> {
        let mut mac = self.form_mac.clone();
        mac.update(FORM_TOKEN_LABEL);
        mac.update(nonce.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let scope = |s: &str| client_scope(s.parse().expect("address"));
        assert_eq!(scope("203.0.113.7"), "203.0.113.7");
        assert_eq!(scope("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(scope("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(scope("2001:db8:1:2:ffff::9"), scope("2001:db8:1:2::1"));
        assert_ne!(scope("2001:db8:1:3::1"), scope("2001:db8:1:2::1"));
    }
}
