//! The typed policy expression: a [`Node`] tree with columns, operators and
//! functions resolved to names, and the handful of shapes the judgements care
//! about told apart. Anything else becomes [`Expr::Unknown`], which keeps its
//! sub-expressions so that a setting read inside a `CASE` is still seen.

use std::collections::HashMap;

use super::node::{Node, Struct};

/// One policy expression (or part of one).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `true` or `false`.
    Bool(bool),
    /// `a OR b OR ...`.
    Or(Vec<Expr>),
    /// `a AND b AND ...`.
    And(Vec<Expr>),
    /// `NOT a`.
    Not(Box<Expr>),
    /// A column of the row the policy judges, also when a subquery refers to it.
    Column(String),
    /// A column of a relation a subquery reads (`relation` is `None` for
    /// subqueries in FROM, functions and joins).
    QueryColumn {
        /// The relation's oid.
        relation: Option<u32>,
        /// The column's name.
        name: String,
    },
    /// A parameter: in the test of `IN (SELECT ...)`, the subquery's output.
    Param,
    /// A constant other than a boolean.
    Const {
        /// Its type's oid (25 text, 2950 uuid, ...).
        type_oid: u32,
        /// Its value.
        value: Value,
    },
    /// `current_setting(name [, missing_ok])` with a constant name.
    Setting {
        /// The setting's name, as written.
        name: String,
        /// Whether a missing setting gives NULL instead of an error.
        missing_ok: bool,
    },
    /// `current_user`, `current_role`, `user` or `session_user`.
    CurrentUser,
    /// An operator call.
    Op {
        /// The operator's name (`=`, `~~`, `||`, or `IS DISTINCT FROM`).
        name: String,
        /// Its operands.
        args: Vec<Expr>,
    },
    /// A function call (casts written as functions are [`Expr::Cast`]).
    Func {
        /// The function's oid.
        oid: u32,
        /// Its schema.
        schema: String,
        /// Its name.
        name: String,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// A type conversion that keeps the value (`::uuid`, `::text`, domain coercion, COLLATE).
    Cast(Box<Expr>),
    /// `arg IS [NOT] NULL`.
    NullTest {
        /// What is tested.
        arg: Box<Expr>,
        /// `IS NULL` (else `IS NOT NULL`).
        is_null: bool,
    },
    /// `COALESCE(...)`.
    Coalesce(Vec<Expr>),
    /// `NULLIF(a, b)`.
    NullIf(Vec<Expr>),
    /// `a op ANY (array)` / `a op ALL (array)`, including `IN (list)`.
    ScalarArrayOp {
        /// The operator's name.
        name: String,
        /// ANY (else ALL).
        use_or: bool,
        /// The scalar and the array.
        args: Vec<Expr>,
    },
    /// A subquery.
    SubLink(Box<SubLink>),
    /// Any other node, with the expressions found inside it.
    Unknown {
        /// The node's tag (`CASEEXPR`, `BOOLEANTEST`, ...).
        tag: String,
        /// Its sub-expressions.
        children: Vec<Expr>,
    },
}

/// A constant's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A string type, or a uuid in its text form.
    Text(String),
    /// An integer or oid type.
    Int(i64),
    /// Anything else: the datum's bytes.
    Bytes(Vec<u8>),
}

/// The kind of a subquery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubLinkKind {
    /// `EXISTS (SELECT ...)`.
    Exists,
    /// `x op ANY (SELECT ...)`, `x IN (SELECT ...)`.
    Any,
    /// `x op ALL (SELECT ...)`.
    All,
    /// `(SELECT ...)` as a value.
    Expr,
    /// `ARRAY(SELECT ...)`.
    Array,
    /// Row comparisons, multi-assignments, CTEs.
    Other,
}

/// What a subquery does.
#[derive(Debug, Clone, PartialEq)]
pub struct SubLink {
    /// Its kind.
    pub kind: SubLinkKind,
    /// For ANY/ALL: the comparison, with [`Expr::Param`] for the subquery's output.
    pub test: Option<Expr>,
    /// Relations it reads, at any depth.
    pub relations: Vec<u32>,
    /// Its conditions (WHERE, JOIN, HAVING), output expressions and FROM functions, nested subqueries included.
    pub body: Vec<Expr>,
}

/// A function's name and schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionName {
    /// `pg_namespace.nspname`.
    pub schema: String,
    /// `pg_proc.proname`.
    pub name: String,
}

/// Operator and function names by oid, read from the catalog for the oids
/// the trees use ([`oids`]).
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// `pg_operator.oprname` by oid.
    pub operators: HashMap<u32, String>,
    /// `pg_proc` names by oid.
    pub functions: HashMap<u32, FunctionName>,
}

/// Operator oids and function oids a tree refers to, to resolve in one query each.
pub fn oids(node: &Node) -> (Vec<u32>, Vec<u32>) {
    let (mut ops, mut funcs) = (Vec::new(), Vec::new());
    for s in node.structs() {
        let (list, field) = match s.tag.as_str() {
            "OPEXPR" | "DISTINCTEXPR" | "NULLIFEXPR" | "SCALARARRAYOPEXPR" => (&mut ops, "opno"),
            "FUNCEXPR" => (&mut funcs, "funcid"),
            _ => continue,
        };
        if let Some(oid) = s.int(field).and_then(|o| u32::try_from(o).ok()) {
            list.push(oid);
        }
    }
    (ops, funcs)
}

/// Builds the typed expression of a policy on a relation whose columns
/// `column` names by attribute number.
pub fn build(node: &Node, column: &dyn Fn(i64) -> Option<String>, names: &Names) -> Expr {
    Builder { column, names, queries: Vec::new() }.expr(node)
}

// Values of PostgreSQL enums, stable from 13 to 18.
const SVFOP_CURRENT_ROLE: i64 = 9;
const SVFOP_SESSION_USER: i64 = 12;
const COERCE_EXPLICIT_CAST: i64 = 1;
const COERCE_IMPLICIT_CAST: i64 = 2;
const IS_NULL: i64 = 0;

struct Builder<'a> {
    column: &'a dyn Fn(i64) -> Option<String>,
    names: &'a Names,
    /// The subqueries around the expression being built, outermost first.
    queries: Vec<&'a Struct>,
}

impl<'a> Builder<'a> {
    fn expr(&mut self, node: &'a Node) -> Expr {
        match node {
            Node::Struct(s) => self.node(s),
            Node::List(items) if items.len() == 1 => self.expr(&items[0]),
            // An implicit AND list (a qual written as a list).
            Node::List(items) => Expr::And(self.all(items)),
            _ => unknown("", Vec::new()),
        }
    }

    fn all(&mut self, items: &'a [Node]) -> Vec<Expr> {
        items.iter().map(|n| self.expr(n)).collect()
    }

    fn args(&mut self, s: &'a Struct) -> Vec<Expr> {
        self.all(s.list("args"))
    }

    fn arg(&mut self, s: &'a Struct) -> Box<Expr> {
        Box::new(s.get("arg").map_or_else(|| unknown("", Vec::new()), |a| self.expr(a)))
    }

    fn operator(&self, s: &Struct) -> String {
        let oid = s.int("opno").and_then(|o| u32::try_from(o).ok()).unwrap_or(0);
        self.names.operators.get(&oid).cloned().unwrap_or_else(|| format!("operator {oid}"))
    }

    fn node(&mut self, s: &'a Struct) -> Expr {
        match s.tag.as_str() {
            "BOOLEXPR" => {
                let args = self.args(s);
                match s.atom("boolop") {
                    Some("and") => Expr::And(args),
                    Some("or") => Expr::Or(args),
                    Some("not") if args.len() == 1 => Expr::Not(Box::new(args.into_iter().next().expect("one arg"))),
                    _ => unknown(&s.tag, args),
                }
            }
            "VAR" => self.var(s),
            "CONST" => constant(s),
            "PARAM" => Expr::Param,
            "OPEXPR" => Expr::Op { name: self.operator(s), args: self.args(s) },
            "DISTINCTEXPR" => Expr::Op { name: "IS DISTINCT FROM".into(), args: self.args(s) },
            "NULLIFEXPR" => Expr::NullIf(self.args(s)),
            // 13 writes COALESCE, 14+ COALESCEEXPR.
            "COALESCEEXPR" | "COALESCE" => Expr::Coalesce(self.args(s)),
            "SCALARARRAYOPEXPR" => Expr::ScalarArrayOp {
                name: self.operator(s),
                use_or: s.flag("useOr").unwrap_or(true),
                args: self.args(s),
            },
            "NULLTEST" => Expr::NullTest { arg: self.arg(s), is_null: s.int("nulltesttype") == Some(IS_NULL) },
            "RELABELTYPE" | "COERCEVIAIO" | "ARRAYCOERCEEXPR" | "CONVERTROWTYPEEXPR" | "COLLATEEXPR"
            | "COERCETODOMAIN" => Expr::Cast(self.arg(s)),
            "SQLVALUEFUNCTION" => match s.int("op") {
                // CURRENT_ROLE, CURRENT_USER, USER, SESSION_USER (16+ has only the date/time ones).
                Some(SVFOP_CURRENT_ROLE..=SVFOP_SESSION_USER) => Expr::CurrentUser,
                _ => unknown(&s.tag, Vec::new()),
            },
            "FUNCEXPR" => self.function(s),
            "SUBLINK" => self.sublink(s),
            _ => self.unknown(s),
        }
    }

    fn var(&mut self, s: &Struct) -> Expr {
        let (varno, attno, up) = (s.int("varno").unwrap_or(0), s.int("varattno").unwrap_or(0), s.int("varlevelsup"));
        let depth = self.queries.len() as i64;
        let Some(level) = up.map(|up| depth - up).filter(|l| *l >= 0) else {
            return unknown(&s.tag, Vec::new());
        };
        if level == 0 {
            return (self.column)(attno).map_or_else(|| unknown(&s.tag, Vec::new()), Expr::Column);
        }
        // A column of a relation in the subquery `level`: named by its range table entry.
        let rte = usize::try_from(varno - 1)
            .ok()
            .and_then(|i| self.queries[level as usize - 1].list("rtable").get(i))
            .and_then(Node::as_struct);
        let name = rte
            .and_then(|r| r.node("eref"))
            .and_then(|e| usize::try_from(attno - 1).ok().and_then(|i| e.list("colnames").get(i)))
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_string();
        let relation = rte.filter(|r| r.int("rtekind") == Some(0)).and_then(|r| r.int("relid")).map(|o| o as u32);
        Expr::QueryColumn { relation, name }
    }

    fn function(&mut self, s: &'a Struct) -> Expr {
        let args = self.args(s);
        if matches!(s.int("funcformat"), Some(COERCE_EXPLICIT_CAST | COERCE_IMPLICIT_CAST)) && !args.is_empty() {
            return Expr::Cast(Box::new(args.into_iter().next().expect("an argument")));
        }
        let oid = s.int("funcid").and_then(|o| u32::try_from(o).ok()).unwrap_or(0);
        let Some(f) = self.names.functions.get(&oid) else {
            return Expr::Func { oid, schema: String::new(), name: format!("function {oid}"), args };
        };
        if f.schema == "pg_catalog" {
            match (f.name.as_str(), args.as_slice()) {
                ("current_user" | "session_user" | "current_role", []) => return Expr::CurrentUser,
                ("current_setting", [name, rest @ ..]) if rest.len() <= 1 => {
                    if let Some(Value::Text(name)) = uncast(name).const_value() {
                        // A missing_ok that is not a constant may be true.
                        let missing_ok = match rest.first().map(uncast) {
                            None => false,
                            Some(Expr::Bool(b)) => *b,
                            Some(_) => true,
                        };
                        return Expr::Setting { name: name.clone(), missing_ok };
                    }
                }
                _ => {}
            }
        }
        Expr::Func { oid, schema: f.schema.clone(), name: f.name.clone(), args }
    }

    fn sublink(&mut self, s: &'a Struct) -> Expr {
        let kind = match s.int("subLinkType") {
            Some(0) => SubLinkKind::Exists,
            Some(1) => SubLinkKind::All,
            Some(2) => SubLinkKind::Any,
            Some(4) => SubLinkKind::Expr,
            Some(6) => SubLinkKind::Array,
            _ => SubLinkKind::Other,
        };
        // The test belongs to the outer query: build it before entering the subquery.
        let test = s.node("testexpr").map(|t| self.node(t));
        let mut link = SubLink { kind, test, relations: Vec::new(), body: Vec::new() };
        if let Some(q) = s.node("subselect") {
            self.query(q, &mut link);
        }
        Expr::SubLink(Box::new(link))
    }

    /// Collects what a query reads and tests into `link`.
    fn query(&mut self, q: &'a Struct, link: &mut SubLink) {
        self.queries.push(q);
        for rte in q.list("rtable").iter().filter_map(Node::as_struct) {
            if rte.int("rtekind") == Some(0)
                && let Some(relid) = rte.int("relid")
            {
                link.relations.push(relid as u32);
            }
            if let Some(sub) = rte.node("subquery") {
                self.query(sub, link);
            }
            for f in rte.list("functions").iter().filter_map(Node::as_struct) {
                if let Some(e) = f.get("funcexpr") {
                    link.body.push(self.expr(e));
                }
            }
            for row in rte.list("values_lists") {
                link.body.push(self.expr(row));
            }
        }
        for cte in q.list("cteList").iter().filter_map(Node::as_struct) {
            if let Some(sub) = cte.node("ctequery") {
                self.query(sub, link);
            }
        }
        if let Some(j) = q.node("jointree") {
            self.join_quals(j, link);
        }
        for te in q.list("targetList").iter().filter_map(Node::as_struct) {
            if let Some(e) = te.get("expr") {
                link.body.push(self.expr(e));
            }
        }
        if let Some(h) = q.get("havingQual").filter(|h| **h != Node::Null) {
            link.body.push(self.expr(h));
        }
        self.queries.pop();
    }

    fn join_quals(&mut self, j: &'a Struct, link: &mut SubLink) {
        if let Some(quals) = j.get("quals").filter(|q| **q != Node::Null) {
            link.body.push(self.expr(quals));
        }
        let below = j.list("fromlist").iter().chain(["larg", "rarg"].iter().filter_map(|f| j.get(f)));
        for n in below.filter_map(Node::as_struct) {
            self.join_quals(n, link);
        }
    }

    /// A node with no meaning of its own here: keep the expressions inside it.
    fn unknown(&mut self, s: &'a Struct) -> Expr {
        if s.tag == "QUERY" {
            let mut link = SubLink { kind: SubLinkKind::Other, test: None, relations: Vec::new(), body: Vec::new() };
            self.query(s, &mut link);
            return Expr::SubLink(Box::new(link));
        }
        let mut children = Vec::new();
        for (_, v) in &s.fields {
            match v {
                Node::Struct(_) => children.push(self.expr(v)),
                Node::List(items) => {
                    children.extend(items.iter().filter(|i| matches!(i, Node::Struct(_))).map(|i| self.expr(i)))
                }
                _ => {}
            }
        }
        unknown(&s.tag, children)
    }
}

fn unknown(tag: &str, children: Vec<Expr>) -> Expr {
    Expr::Unknown { tag: tag.to_string(), children }
}

/// The expression under any casts.
pub fn uncast(mut e: &Expr) -> &Expr {
    while let Expr::Cast(inner) = e {
        e = inner;
    }
    e
}

impl Expr {
    /// The value of a constant.
    pub fn const_value(&self) -> Option<&Value> {
        match self {
            Expr::Const { value, .. } => Some(value),
            _ => None,
        }
    }
}

// Type oids of pg_catalog, fixed since long before PostgreSQL 13.
const BOOL: u32 = 16;
const NAME: u32 = 19;
const INTS: [u32; 4] = [20, 21, 23, 26];
const UUID: u32 = 2950;

/// A CONST node: booleans become [`Expr::Bool`], others a decoded [`Value`].
fn constant(s: &Struct) -> Expr {
    let type_oid = s.int("consttype").and_then(|t| u32::try_from(t).ok()).unwrap_or(0);
    if s.flag("constisnull") == Some(true) {
        return Expr::Const { type_oid, value: Value::Null };
    }
    let Some(Node::Datum { bytes, .. }) = s.get("constvalue") else {
        return Expr::Const { type_oid, value: Value::Null };
    };
    let byval = s.flag("constbyval") == Some(true);
    let len = s.int("constlen").unwrap_or(0);
    // Datums are written in machine order; every platform PostgreSQL ships on today is little-endian.
    let int = |n: usize| {
        let mut b = [0u8; 8];
        b[..n.min(8)].copy_from_slice(&bytes[..n.min(8).min(bytes.len())]);
        let v = i64::from_le_bytes(b);
        // Sign-extend from the type's width.
        let shift = 64 - 8 * n.clamp(1, 8) as u32;
        (v << shift) >> shift
    };
    let value = match (type_oid, byval, len) {
        (BOOL, true, _) => return Expr::Bool(bytes.first().is_some_and(|b| *b != 0)),
        (t, true, n) if INTS.contains(&t) && (1..=8).contains(&n) => {
            let v = int(n as usize);
            Value::Int(if t == 26 { v & 0xffff_ffff } else { v })
        }
        (UUID, false, 16) if bytes.len() >= 16 => Value::Text(uuid(&bytes[..16])),
        (NAME, false, _) => Value::Text(String::from_utf8_lossy(bytes.split(|b| *b == 0).next().unwrap_or(&[])).into()),
        (_, false, -1) => match varlena(bytes) {
            Some(payload) if text_type(type_oid) => Value::Text(String::from_utf8_lossy(payload).into()),
            Some(payload) => Value::Bytes(payload.to_vec()),
            None => Value::Bytes(bytes.clone()),
        },
        // cstring-like (`unknown` literals).
        (_, false, -2) => Value::Text(String::from_utf8_lossy(bytes.split(|b| *b == 0).next().unwrap_or(&[])).into()),
        _ => Value::Bytes(bytes.clone()),
    };
    Expr::Const { type_oid, value }
}

/// text, varchar, bpchar, name-like string types.
fn text_type(oid: u32) -> bool {
    matches!(oid, 25 | 1042 | 1043 | 705)
}

/// A varlena's payload: 4-byte header (length << 2, little-endian) or 1-byte
/// header (length << 1 | 1); compressed or external values are not decoded.
fn varlena(bytes: &[u8]) -> Option<&[u8]> {
    let first = *bytes.first()?;
    if first & 0x01 == 1 {
        let total = (first >> 1) as usize;
        return bytes.get(1..total.max(1));
    }
    if first & 0x03 != 0 {
        return None;
    }
    let header = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let total = (header >> 2) as usize;
    bytes.get(4..total.max(4))
}

fn uuid(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::node::parse;

    fn build_plain(text: &str) -> Expr {
        build(&parse(text).unwrap(), &|n| Some(format!("c{n}")), &Names::default())
    }

    #[test]
    fn text_constants_drop_the_varlena_header() {
        let e = build_plain(
            "{CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 43 :constvalue 29 [ 116 0 0 0 105 116 39 115 32 123 97 125 32 40 98 41 32 92 32 34 99 34 32 100 -61 -87 106 -61 -96 ]}",
        );
        assert_eq!(e, Expr::Const { type_oid: 25, value: Value::Text("it's {a} (b) \\ \"c\" déjà".into()) });
        let e = build_plain(
            "{CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 59 :constvalue 4 [ -2 -1 -1 -1 0 0 0 0 ]}",
        );
        assert_eq!(e, Expr::Const { type_oid: 23, value: Value::Int(-2) });
    }

    #[test]
    fn unknown_nodes_keep_their_expressions() {
        let e = build_plain("{CASEEXPR :args ({CASEWHEN :expr {VAR :varno 1 :varattno 2 :varlevelsup 0} :result <>})}");
        let Expr::Unknown { tag, children } = e else { panic!() };
        assert_eq!(tag, "CASEEXPR");
        assert_eq!(children, vec![Expr::Unknown { tag: "CASEWHEN".into(), children: vec![Expr::Column("c2".into())] }]);
    }
}
