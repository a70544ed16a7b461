//! Flash messages: a line for the next page the admin sees (post/redirect/get), kept in the
//! admin's session and shown once.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::web::auth::SessionKey;
use crate::web::error::PageError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

impl Flash {
    pub fn info(text: impl Into<String>) -> Flash {
        Flash {
            kind: "info".into(),
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            kind: "error".into(),
            text: text.into(),
        }
    }

    /// Keeps the message for the next page this session shows.
    pub async fn store(self, session: &Session) -> Result<(), PageError> {
        let mut waiting: Vec<Flash> = SessionKey::Flashes.get(session).await?.unwrap_or_default();
        waiting.push(self);
        SessionKey::Flashes.insert(session, waiting).await?;
        Ok(())
    }

    /// The messages waiting for this session; each is shown once.
    pub async fn take_all(session: &Session) -> Result<Vec<Flash>, PageError> {
        Ok(SessionKey::Flashes
            .remove(session)
            .await?
            .unwrap_or_default())
    }
}
