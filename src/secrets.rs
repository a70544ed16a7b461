//! The encryption key mixed into key hashes: from the setting, or generated once and kept in
//! a file under `data_dir` (never in Redis beside the hashes it protects).

use std::io::Write;
use std::path::PathBuf;

use crate::config::Config;
use crate::domain::secret::random_hex;

const KEY_FILE: &str = "encryption.key";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("encryption key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encryption key file {path} is empty or shorter than 16 characters")]
    Short { path: PathBuf },
}

/// Where the generated encryption key is kept when `KEYWARD_ENCRYPTION_KEY` is not set.
pub fn key_file(config: &Config) -> PathBuf {
    config.data_dir.join(KEY_FILE)
}

pub fn encryption_key(config: &Config) -> Result<String, SecretsError> {
    if let Some(key) = &config.encryption_key {
        return Ok(key.clone());
    }
    let path = key_file(config);
    let io = |source| SecretsError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim().to_string();
            if key.len() < 16 {
                return Err(SecretsError::Short { path });
            }
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir).map_err(io)?;
            let key = random_hex(32);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path).map_err(io)?;
            file.write_all(format!("{key}\n").as_bytes()).map_err(io)?;
            tracing::info!(path = %path.display(), "generated the encryption key; back this file up");
            Ok(key)
        }
        Err(error) => Err(io(error)),
    }
}
