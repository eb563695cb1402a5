//! The topics a WebSocket client can subscribe to.

use super::Subject;
use std::collections::BTreeSet;
use std::fmt;

/// Most topics one connection may hold (a dashboard needs a handful).
pub const MAX_TOPICS: usize = 1024;

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Every miner's changes.
    Fleet,
    /// One miner's changes.
    Miner(String),
    /// Alert changes.
    Alerts,
    /// Plugin list changes.
    Plugins,
}

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not one of the known names.
    #[error("unknown topic {0:?}: expected fleet, alerts, plugins or miner:<id>")]
    Unknown(String),
    /// Too many topics on one connection.
    #[error("at most {MAX_TOPICS} topics per connection")]
    TooMany,
}

impl Topic {
    /// Parses `fleet`, `alerts`, `plugins` or `miner:<id>`.
    pub fn parse(s: &str) -> Result<Topic, TopicError> {
        match s {
            "fleet" => Ok(Topic::Fleet),
            "alerts" => Ok(Topic::Alerts),
            "plugins" => Ok(Topic::Plugins),
            _ => match s.strip_prefix("miner:") {
                Some(id) if !id.is_empty() && id.len() <= 128 => Ok(Topic::Miner(id.to_string())),
                _ => Err(TopicError::Unknown(s.chars().take(64).collect())),
            },
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Fleet => f.write_str("fleet"),
            Topic::Miner(id) => write!(f, "miner:{id}"),
            Topic::Alerts => f.write_str("alerts"),
            Topic::Plugins => f.write_str("plugins"),
        }
    }
}

/// The topics of one connection.
#[derive(Debug, Default)]
pub struct Topics {
    set: BTreeSet<Topic>,
}

impl Topics {
    /// Adds `topics`; returns the ones that were new.
    pub fn add(&mut self, topics: Vec<Topic>) -> Result<Vec<Topic>, TopicError> {
        let fresh: Vec<Topic> = topics
            .into_iter()
            .filter(|t| !self.set.contains(t))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if self.set.len() + fresh.len() > MAX_TOPICS {
            return Err(TopicError::TooMany);
        }
        self.set.extend(fresh.iter().cloned());
        Ok(fresh)
    }

    /// Removes `topics`; returns how many were held.
    pub fn remove(&mut self, topics: &[Topic]) -> usize {
        topics.iter().filter(|t| self.set.remove(t)).count()
    }

    /// Whether the message about `subject` is wanted.
    pub fn wants(&self, subject: &Subject) -> bool {
        match subject {
            Subject::Fleet => self.set.contains(&Topic::Fleet),
            Subject::Miner(id) => self.set.contains(&Topic::Miner(id.clone())),
            Subject::Alerts => self.set.contains(&Topic::Alerts),
            Subject::Plugins => self.set.contains(&Topic::Plugins),
        }
    }

    /// Whether any `miner:<id>` topic is held (whole records are wanted).
    pub fn follows_miners(&self) -> bool {
        self.set.iter().any(|t| matches!(t, Topic::Miner(_)))
    }

    /// Every held topic.
    pub fn iter(&self) -> impl Iterator<Item = &Topic> {
        self.set.iter()
    }

    /// How many are held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_routes() {
        assert_eq!(Topic::parse("fleet"), Ok(Topic::Fleet));
        assert_eq!(Topic::parse("miner:a"), Ok(Topic::Miner("a".into())));
        assert!(Topic::parse("miner:").is_err());
        assert!(Topic::parse("nope").is_err());
        let mut t = Topics::default();
        let added = t
            .add(vec![Topic::Miner("a".into()), Topic::Miner("a".into())])
            .unwrap_or_default();
        assert_eq!(added.len(), 1, "duplicates count once");
        assert!(t.wants(&Subject::Miner("a".into())));
        assert!(!t.wants(&Subject::Miner("b".into())));
        assert!(!t.wants(&Subject::Alerts));
        assert!(!t.wants(&Subject::Fleet));
        assert!(t.follows_miners());
        t.add(vec![Topic::Fleet]).unwrap_or_default();
        assert!(t.wants(&Subject::Fleet));
        assert!(
            !t.wants(&Subject::Miner("b".into())),
            "fleet gets rows, not records"
        );
        assert_eq!(t.remove(&[Topic::Fleet, Topic::Alerts]), 1);
        t.remove(&[Topic::Miner("a".into())]);
        assert!(!t.follows_miners());
    }
}
