use std::path::PathBuf;

/// Everything that can go wrong while finding, reading or validating data.
///
/// The `Display` form is a single line that names the file (or dataset) and the problem.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but its contents are wrong.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// A dataset name that no loader knows.
    #[error("unknown dataset '{0}' (known: {known})", known = crate::SPECS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "))]
    UnknownDataset(String),
    /// The dataset's files are nowhere in the lookup order.
    #[error("dataset '{name}' not found (looked in: {looked}); {hint}")]
    NotFound {
        /// Dataset name.
        name: String,
        /// The folders that were searched, in order.
        looked: String,
        /// How to get the data.
        hint: String,
    },
    /// `--download` failed.
    #[error("download of {url} failed: {problem}")]
    Download {
        /// The address that was fetched.
        url: String,
        /// What went wrong.
        problem: String,
    },
}

impl DataError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        DataError::Invalid { path: path.into(), problem: problem.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}
