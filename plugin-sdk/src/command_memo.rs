//! What the CGMiner reader learnt about one miner, and the replies it reuses, as stored in the
//! plugin's state.
//!
//! It is read at every poll of every CGMiner-family miner. Kept replies are JSON, and as string
//! values inside a JSON memo every quote of theirs was escaped, so each poll unescaped them
//! (inside WASM, a copy call per escape). The memo is therefore lines, each reply stored as it
//! is: compact JSON holds no newline.
//!
//! ```text
//! solomon-memo 2 <since_ms> <single 0|1> <statics_ms>
//! skip <command>
//! static <command> <reply>
//! lazy <command> <at_ms> <reply>
//! ```

use std::collections::BTreeMap;

/// The first word of a memo in this format.
const MAGIC: &str = "solomon-memo 2";

/// What was learnt about one miner.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CommandMemo {
    /// Multi-commands are refused: send one command per connection.
    pub single: bool,
    /// Commands the firmware answers with an error status.
    pub skip: Vec<String>,
    /// When the memo was started (host clock, ms); it is forgotten after a while so that a
    /// firmware upgrade is noticed.
    pub since_ms: u64,
    /// Replies (JSON text) to the commands whose answer does not change while the miner runs.
    pub statics: BTreeMap<String, String>,
    /// When `statics` were asked (host clock, ms).
    pub statics_ms: u64,
    /// The last reply to the plan's lazy command, on firmware that needs a connection per
    /// command.
    pub lazy: Option<KeptReply>,
}

/// One command's reply kept in a [`CommandMemo`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeptReply {
    pub command: String,
    /// The reply as JSON text.
    pub text: String,
    /// When it was asked (host clock, ms).
    pub at_ms: u64,
}

impl CommandMemo {
    /// Reads a stored memo. Anything else (an older SDK's JSON memo, a damaged one) is `None`:
    /// the memo is started again, which costs only a few exchanges.
    pub fn decode(stored: &[u8]) -> Option<CommandMemo> {
        let text = std::str::from_utf8(stored).ok()?;
        let mut lines = text.split('\n');
        let head = lines.next()?.strip_prefix(MAGIC)?;
        let mut nums = head.split_ascii_whitespace().map(str::parse::<u64>);
        let mut memo = CommandMemo {
            since_ms: nums.next()?.ok()?,
            single: nums.next()?.ok()? == 1,
            statics_ms: nums.next()?.ok()?,
            ..CommandMemo::default()
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let (kind, rest) = line.split_once(' ')?;
            match kind {
                "skip" => memo.skip.push(rest.to_string()),
                "static" => {
                    let (command, reply) = rest.split_once(' ')?;
                    memo.statics.insert(command.to_string(), reply.to_string());
                }
                "lazy" => {
                    let (command, rest) = rest.split_once(' ')?;
                    let (at_ms, reply) = rest.split_once(' ')?;
                    memo.lazy = Some(KeptReply {
                        command: command.to_string(),
                        text: reply.to_string(),
                        at_ms: at_ms.parse().ok()?,
                    });
                }
                _ => return None,
            }
        }
        Some(memo)
    }

    /// The stored form. A command or reply holding a newline, or a command holding a space,
    /// which no CGMiner command or compact JSON does, is left out rather than corrupt the rest.
    pub fn encode(&self) -> String {
        let word = |c: &str| !c.is_empty() && !c.contains([' ', '\n']);
        let line = |t: &str| !t.contains('\n');
        let mut out = format!(
            "{MAGIC} {} {} {}\n",
            self.since_ms,
            u8::from(self.single),
            self.statics_ms
        );
        for c in self.skip.iter().filter(|c| word(c)) {
            out.push_str("skip ");
            out.push_str(c);
            out.push('\n');
        }
        for (c, reply) in self.statics.iter().filter(|(c, r)| word(c) && line(r)) {
            out.push_str("static ");
            out.push_str(c);
            out.push(' ');
            out.push_str(reply);
            out.push('\n');
        }
        if let Some(k) = self
            .lazy
            .as_ref()
            .filter(|k| word(&k.command) && line(&k.text))
        {
            out.push_str(&format!("lazy {} {} {}\n", k.command, k.at_ms, k.text));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> CommandMemo {
        CommandMemo {
            single: true,
            skip: vec!["devdetails".into(), "estats".into()],
            since_ms: 1_796_000_000_000,
            statics: [(
                "version".to_string(),
                r#"{"STATUS":[{"STATUS":"S","Msg":"a b"}],"VERSION":[{"Type":"Antminer S19 Pro"}]}"#
                    .to_string(),
            )]
            .into(),
            statics_ms: 1_796_000_000_500,
            lazy: Some(KeptReply {
                command: "summary".into(),
                text: r#"{"SUMMARY":[{"Elapsed":50474,"Best Share":12904207043,"Note":"x\ny"}]}"#
                    .into(),
                at_ms: 1_796_000_001_000,
            }),
        }
    }

    #[test]
    fn a_memo_reads_back_as_it_was_stored() {
        for memo in [full(), CommandMemo::default()] {
            let stored = memo.encode();
            assert_eq!(
                CommandMemo::decode(stored.as_bytes()),
                Some(memo),
                "{stored}"
            );
        }
        // Replies are stored as they are: no escaping to undo at each poll.
        assert!(full().encode().contains(r#"{"Type":"Antminer S19 Pro"}"#));
    }

    #[test]
    fn what_does_not_fit_a_line_is_left_out_not_corrupting() {
        let mut memo = full();
        memo.skip.push("two words".into());
        memo.statics.insert("bad".into(), "{\n}".into());
        let back = CommandMemo::decode(memo.encode().as_bytes()).expect("reads");
        assert_eq!(back, full());
    }

    #[test]
    fn older_or_damaged_memos_start_again() {
        let json = br#"{"single":true,"skip":[],"since_ms":1}"#;
        for stored in [
            &json[..],
            b"",
            b"solomon-memo 2 1 x 3\n",
            b"solomon-memo 2 1 0\n",
            b"solomon-memo 2 1 0 3\nlazy summary nan {}\n",
            b"solomon-memo 2 1 0 3\nwhat is this\n",
            b"\xff\xfe",
        ] {
            assert_eq!(CommandMemo::decode(stored), None, "{stored:?}");
        }
    }
}
