//! The `pg_node_tree` text format (`nodeToString` output) as a generic tree.
//!
//! The reader knows the format, not the node types: `{TAG :field value ...}`
//! structs, `( ... )` lists, `(i 1 2)` / `(o ...)` / `(b ...)` / `(x ...)`
//! number lists, `<>` for NULL, and datums written as `len [ b0 b1 ... ]`.
//! Field sets change between PostgreSQL versions (13 has `varnoold`, 16 adds
//! `varnullingrels` and `rteperminfos`, 17 writes locations as -1), so nothing
//! here depends on which fields a node has.

/// One value of a node tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `{TAG :field value ...}`.
    Struct(Struct),
    /// `( ... )`: nodes, strings or nested lists.
    List(Vec<Node>),
    /// `(i 1 2)`, `(o 16384)`, `(b 8 9)`, `(x ...)`: integer, oid, bitmapset or xid lists.
    Numbers {
        /// The list's marker: `i`, `o`, `b` or `x`.
        kind: char,
        /// Its members.
        values: Vec<i64>,
    },
    /// A scalar token, backslash escapes removed (`1`, `true`, `"org_id"`, `?column?`).
    Atom(String),
    /// A datum: its length as written and its bytes in machine order.
    Datum {
        /// The length before the bytes (the type's length for by-value datums).
        len: i64,
        /// The bytes, including a varlena's header.
        bytes: Vec<u8>,
    },
    /// `<>`: a NULL pointer or an empty list.
    Null,
}

/// A node of some type (`OPEXPR`, `VAR`, ...) and its fields in written order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// The node's tag, e.g. `OPEXPR`.
    pub tag: String,
    /// Field names (without the leading `:`) and values.
    pub fields: Vec<(String, Node)>,
}

impl Struct {
    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The field `name` as an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.atom(name)?.parse().ok()
    }

    /// The field `name` as a scalar token.
    pub fn atom(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Node::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// The field `name` as a boolean (`true`/`false`).
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.atom(name)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The field `name` as a node of any tag.
    pub fn node(&self, name: &str) -> Option<&Struct> {
        match self.get(name)? {
            Node::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The field `name` as a list (empty for `<>` or a missing field).
    pub fn list(&self, name: &str) -> &[Node] {
        match self.get(name) {
            Some(Node::List(items)) => items,
            _ => &[],
        }
    }
}

impl Node {
    /// The struct, if this is one.
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Node::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// A string list member (`"org_id"`) without its quotes.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Atom(a) => Some(a.strip_prefix('"').and_then(|a| a.strip_suffix('"')).unwrap_or(a)),
            _ => None,
        }
    }

    /// Every struct in this tree, depth first, this one included.
    pub fn structs(&self) -> Vec<&Struct> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            match n {
                Node::Struct(s) => {
                    out.push(s);
                    stack.extend(s.fields.iter().rev().map(|(_, v)| v));
                }
                Node::List(items) => stack.extend(items.iter().rev()),
                _ => {}
            }
        }
        out
    }
}

/// Why a node tree could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The text ended inside a node or list.
    #[error("read the node tree: it ends inside a node or list")]
    UnexpectedEnd,
    /// A token that cannot stand where it is.
    #[error("read the node tree: unexpected `{token}` at byte {offset}")]
    Unexpected {
        /// The token.
        token: String,
        /// Where it starts.
        offset: usize,
    },
    /// A datum byte that is not a number from -128 to 255.
    #[error("read the node tree: bad datum byte `{token}` at byte {offset}")]
    BadDatum {
        /// The token.
        token: String,
        /// Where it starts.
        offset: usize,
    },
    /// Nesting deeper than any stored expression plausibly is.
    #[error("read the node tree: nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Parses `pg_node_tree` text (e.g. `pg_policy.polqual::text`).
pub fn parse(text: &str) -> Result<Node, TreeError> {
    let mut p = Parser { lexer: Lexer { text, pos: 0 }, peeked: None, depth: 0 };
    let node = p.value()?;
    match p.next() {
        None => Ok(node),
        Some(t) => Err(t.unexpected()),
    }
}

/// Deeper than this is refused instead of risking the stack.
const MAX_DEPTH: usize = 400;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Open(char),
    Close(char),
    /// Escapes removed; `plain` when the token had no backslash.
    Word {
        text: String,
        plain: bool,
    },
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    offset: usize,
}

impl Token {
    fn unexpected(&self) -> TreeError {
        let token = match &self.kind {
            Kind::Open(c) | Kind::Close(c) => c.to_string(),
            Kind::Word { text, .. } => text.clone(),
        };
        TreeError::Unexpected { token, offset: self.offset }
    }

    fn is_plain(&self, word: &str) -> bool {
        matches!(&self.kind, Kind::Word { text, plain: true } if text == word)
    }
}

/// Splits like PostgreSQL's `pg_strtok`: whitespace separates, `(){}` are
/// tokens of their own, a backslash makes the next character ordinary.
struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<Token> {
        let rest = &self.text[self.pos..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '\n', '\t', '\r']).len();
        self.pos += skipped;
        let offset = self.pos;
        let mut chars = self.text[self.pos..].chars();
        let first = chars.next()?;
        if matches!(first, '(' | '{') {
            self.pos += 1;
            return Some(Token { kind: Kind::Open(first), offset });
        }
        if matches!(first, ')' | '}') {
            self.pos += 1;
            return Some(Token { kind: Kind::Close(first), offset });
        }
        let (mut text, mut plain, mut escaped) = (String::new(), true, false);
        for c in self.text[self.pos..].chars() {
            if escaped {
                text.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
                plain = false;
            } else if matches!(c, ' ' | '\n' | '\t' | '\r' | '(' | ')' | '{' | '}') {
                break;
            } else {
                text.push(c);
            }
            self.pos += c.len_utf8();
        }
        Some(Token { kind: Kind::Word { text, plain }, offset })
    }
}

struct Parser<'t> {
    lexer: Lexer<'t>,
    peeked: Option<Token>,
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        self.peeked.take().or_else(|| self.lexer.next())
    }

    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.lexer.next();
        }
        self.peeked.as_ref()
    }

    fn value(&mut self) -> Result<Node, TreeError> {
        let token = self.next().ok_or(TreeError::UnexpectedEnd)?;
        self.value_from(token)
    }

    fn value_from(&mut self, token: Token) -> Result<Node, TreeError> {
        match token.kind {
            Kind::Open('{') => self.nested(Parser::structure),
            Kind::Open(_) => self.nested(Parser::list),
            Kind::Close(_) => Err(token.unexpected()),
            Kind::Word { ref text, plain } if plain && text == "<>" => Ok(Node::Null),
            Kind::Word { text, .. } => {
                if self.peek().is_some_and(|t| t.is_plain("[")) {
                    self.next();
                    return self.datum(text);
                }
                Ok(Node::Atom(text))
            }
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Node, TreeError>) -> Result<Node, TreeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(TreeError::TooDeep(MAX_DEPTH));
        }
        let out = f(self);
        self.depth -= 1;
        out
    }

    /// After `{`: the tag, then `:name value` pairs up to `}`.
    fn structure(&mut self) -> Result<Node, TreeError> {
        let tag = match self.next().ok_or(TreeError::UnexpectedEnd)? {
            Token { kind: Kind::Word { text, .. }, .. } => text,
            Token { kind: Kind::Close('}'), .. } => {
                return Ok(Node::Struct(Struct { tag: String::new(), fields: vec![] }));
            }
            t => return Err(t.unexpected()),
        };
        let mut fields = Vec::new();
        loop {
            let token = self.next().ok_or(TreeError::UnexpectedEnd)?;
            match &token.kind {
                Kind::Close('}') => return Ok(Node::Struct(Struct { tag, fields })),
                Kind::Word { text, .. } if text.starts_with(':') => {
                    let name = text[1..].to_string();
                    // The token after a field name is always its value, even one starting with ':'.
                    let value = match self.peek() {
                        Some(Token { kind: Kind::Close('}'), .. }) => Node::Null,
                        _ => self.value()?,
                    };
                    fields.push((name, value));
                }
                _ => return Err(token.unexpected()),
            }
        }
    }

    /// After `(`: a number list (`i`, `o`, `b`, `x` marker) or values up to `)`.
    fn list(&mut self) -> Result<Node, TreeError> {
        let marker = match self.peek() {
            Some(Token { kind: Kind::Word { text, plain: true }, .. })
                if matches!(text.as_str(), "i" | "o" | "b" | "x") =>
            {
                text.chars().next()
            }
            _ => None,
        };
        if let Some(kind) = marker {
            self.next();
            let mut values = Vec::new();
            loop {
                let token = self.next().ok_or(TreeError::UnexpectedEnd)?;
                match &token.kind {
                    Kind::Close(')') => return Ok(Node::Numbers { kind, values }),
                    Kind::Word { text, .. } => values.push(text.parse().map_err(|_| token.unexpected())?),
                    _ => return Err(token.unexpected()),
                }
            }
        }
        let mut items = Vec::new();
        loop {
            let token = self.next().ok_or(TreeError::UnexpectedEnd)?;
            if token.kind == Kind::Close(')') {
                return Ok(Node::List(items));
            }
            items.push(self.value_from(token)?);
        }
    }

    /// After `len [`: bytes up to `]`, written as signed or unsigned chars.
    fn datum(&mut self, len: String) -> Result<Node, TreeError> {
        let len = len.parse().map_err(|_| TreeError::Unexpected { token: len.clone(), offset: self.lexer.pos })?;
        let mut bytes = Vec::new();
        loop {
            let token = self.next().ok_or(TreeError::UnexpectedEnd)?;
            if token.is_plain("]") {
                return Ok(Node::Datum { len, bytes });
            }
            let bad = || TreeError::BadDatum { token: format!("{:?}", token.kind), offset: token.offset };
            let Kind::Word { text, .. } = &token.kind else {
                return Err(bad());
            };
            let b: i16 = text.parse().map_err(|_| bad())?;
            if !(-128..=255).contains(&b) {
                return Err(bad());
            }
            bytes.push(b as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_lists_and_nulls() {
        let n = parse("{OPEXPR :opno 98 :args ({VAR :varno 1} {CONST :constvalue <>}) :x (i 1 2) :y (b)}").unwrap();
        let s = n.as_struct().unwrap();
        assert_eq!(s.tag, "OPEXPR");
        assert_eq!(s.int("opno"), Some(98));
        assert_eq!(s.list("args").len(), 2);
        assert_eq!(s.list("args")[1].as_struct().unwrap().get("constvalue"), Some(&Node::Null));
        assert_eq!(s.get("x"), Some(&Node::Numbers { kind: 'i', values: vec![1, 2] }));
        assert_eq!(s.get("y"), Some(&Node::Numbers { kind: 'b', values: vec![] }));
    }

    #[test]
    fn datums_keep_signed_bytes() {
        let n = parse("{CONST :constvalue 6 [ 24 0 0 0 -61 -87 ]}").unwrap();
        let Some(Node::Datum { len, bytes }) = n.as_struct().unwrap().get("constvalue") else { panic!() };
        assert_eq!((*len, bytes.as_slice()), (6, &[24u8, 0, 0, 0, 0xc3, 0xa9][..]));
    }

    #[test]
    fn escapes_make_delimiters_ordinary() {
        let n = parse(r#"{ALIAS :aliasname a\ b\(c\) :colnames ("x\ y" "\{z\}") :other \<> :name :odd}"#).unwrap();
        let s = n.as_struct().unwrap();
        assert_eq!(s.atom("aliasname"), Some("a b(c)"));
        assert_eq!(s.list("colnames")[0].as_str(), Some("x y"));
        assert_eq!(s.list("colnames")[1].as_str(), Some("{z}"));
        assert_eq!(s.atom("other"), Some("<>"));
        assert_eq!(s.atom("name"), Some(":odd"));
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        for bad in ["", "{OPEXPR :args (", "{OPEXPR :opno 1", ")", "{A} {B}", "{C :v 2 [ 1 x ]}", "{C :v 2 [ 300 ]}"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "(".repeat(5000);
        assert_eq!(parse(&deep), Err(TreeError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn deep_but_allowed_trees_fit_the_stack() {
        // `a || b || ...` nests two levels (struct, args list) per operator.
        let n = MAX_DEPTH / 2 - 1;
        let text = format!(
            "{}{{VAR :varno 1 :varattno 1 :varlevelsup 0}}{}",
            "{OPEXPR :opno 1 :args (".repeat(n),
            " {VAR :varno 1})}".repeat(n)
        );
        let node = parse(&text).unwrap();
        let e = crate::policy::build(&node, &|_| Some("c".into()), &crate::policy::Names::default());
        let readers = Default::default();
        let tenant = crate::policy::Tenant { setting: "s", readers: &readers };
        assert!(!e.scoped(Some("c"), &tenant) && !e.broad_match("s") && !e.fallback_open("s"));
    }
}
