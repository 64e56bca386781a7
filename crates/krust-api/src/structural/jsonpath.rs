//! The JSONPath subset of `k8s.io/client-go/util/jsonpath` that printer columns use: fields
//! (`.a`, `['a']`, `.a\.b` for dotted keys), `*`, recursive descent (`..a`), indices (also
//! negative), slices `[a:b:c]`, unions `[0,2]` / `['a','b']`, and filters
//! `[?(@.path op literal)]` / `[?(@.path)]` with `==`, `!=`, `<`, `<=`, `>`, `>=`.

use super::MAX_DEPTH;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Fields(Vec<String>),
    Wildcard,
    Recursive,
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Filter(Box<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Path(Vec<Step>),
    Literal(Value),
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    left: Operand,
    /// `None` tests that the left path exists.
    op: Option<(String, Operand)>,
}

pub(super) fn evaluate(obj: &Value, path: &str) -> Vec<Value> {
    let mut p = path.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        p = inner.trim();
    }
    let Some(steps) = parse_path(p) else {
        return Vec::new();
    };
    apply_all(&steps, vec![obj]).into_iter().cloned().collect()
}

fn apply_all<'a>(steps: &[Step], mut cur: Vec<&'a Value>) -> Vec<&'a Value> {
    for step in steps {
        cur = apply(step, cur);
        if cur.is_empty() {
            break;
        }
    }
    cur
}

fn apply<'a>(step: &Step, input: Vec<&'a Value>) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for v in input {
        match step {
            Step::Field(name) => out.extend(v.get(name.as_str()).filter(|_| v.is_object())),
            Step::Fields(names) => {
                if let Value::Object(m) = v {
                    out.extend(names.iter().filter_map(|n| m.get(n)));
                }
            }
            Step::Wildcard => match v {
                Value::Object(m) => out.extend(m.values()),
                Value::Array(a) => out.extend(a.iter()),
                _ => {}
            },
            Step::Recursive => descend(v, &mut out, 0),
            Step::Indices(idx) => {
                if let Value::Array(a) = v {
                    let len = a.len() as i64;
                    for &i in idx {
                        let i = if i < 0 { i + len } else { i };
                        if (0..len).contains(&i) {
                            out.extend(a.get(i as usize));
                        }
                    }
                }
            }
            Step::Slice(start, end, step) => {
                if let Value::Array(a) = v {
                    slice(a, *start, *end, *step, &mut out);
                }
            }
            Step::Filter(f) => {
                if let Value::Array(a) = v {
                    out.extend(a.iter().filter(|x| filter_matches(f, x)));
                }
            }
        }
    }
    out
}

/// `..`: the value and every object or array below it (containers only, like upstream).
fn descend<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > MAX_DEPTH * 4 {
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push(v);
            for c in m.values() {
                descend(c, out, depth + 1);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            out.push(v);
            for c in a {
                descend(c, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn slice<'a>(
    a: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'a Value>,
) {
    let len = a.len() as i64;
    let norm = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let start = start.map_or(0, norm);
    let end = end.map_or(len, norm);
    let step = step.unwrap_or(1);
    if step <= 0 {
        return;
    }
    let mut i = start;
    while i < end {
        out.extend(a.get(i as usize));
        i += step;
    }
}

fn operand_values<'a>(op: &'a Operand, x: &'a Value) -> Vec<&'a Value> {
    match op {
        Operand::Path(steps) => apply_all(steps, vec![x]),
        Operand::Literal(v) => vec![v],
    }
}

fn filter_matches(f: &Filter, x: &Value) -> bool {
    let lefts = operand_values(&f.left, x);
    let Some((op, right)) = &f.op else {
        return !lefts.is_empty();
    };
    let [left] = lefts.as_slice() else {
        return false;
    };
    let rights = operand_values(right, x);
    let [right] = rights.as_slice() else {
        return false;
    };
    let ord = match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op.as_str(), "==" | "!=") => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ord) = ord else {
        return op == "!=" && left != right;
    };
    match op.as_str() {
        "==" => ord.is_eq(),
        "!=" => ord.is_ne(),
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        ">" => ord.is_gt(),
        ">=" => ord.is_ge(),
        _ => false,
    }
}

// --- parsing ---------------------------------------------------------------------------------

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn parse_path(p: &str) -> Option<Vec<Step>> {
    let mut parser = Parser {
        chars: p.chars().collect(),
        pos: 0,
    };
    if parser.peek() == Some('$') {
        parser.pos += 1;
    }
    let steps = parser.steps(0)?;
    (parser.pos == parser.chars.len()).then_some(steps)
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Steps until the end, or until a character that ends a filter operand.
    fn steps(&mut self, depth: usize) -> Option<Vec<Step>> {
        if depth > 8 {
            return None;
        }
        let mut steps = Vec::new();
        let mut first = true;
        while let Some(c) = self.peek() {
            match c {
                '.' => {
                    self.pos += 1;
                    if self.peek() == Some('.') {
                        self.pos += 1;
                        steps.push(Step::Recursive);
                        if self.peek() == Some('[') {
                            continue;
                        }
                    }
                    match self.peek() {
                        Some('*') => {
                            self.pos += 1;
                            steps.push(Step::Wildcard);
                        }
                        Some('[') | None => {}
                        Some('.') => return None,
                        Some(_) => {
                            let name = self.name();
                            if !name.is_empty() {
                                steps.push(Step::Field(name));
                            }
                        }
                    }
                }
                '[' => {
                    self.pos += 1;
                    steps.push(self.bracket(depth)?);
                }
                c if first && (c.is_alphanumeric() || c == '_') => {
                    // A leading bare name (`spec.replicas`).
                    let name = self.name();
                    steps.push(Step::Field(name));
                }
                _ => break,
            }
            first = false;
        }
        Some(steps)
    }

    /// A field name after `.`: up to the next unescaped `.` or `[`, or a filter delimiter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.pos += 1;
                    if let Some(n) = self.peek() {
                        name.push(n);
                        self.pos += 1;
                    }
                }
                '.' | '[' | ']' | ')' | ' ' | '=' | '!' | '<' | '>' | ',' => break,
                c => {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        name
    }

    fn bracket(&mut self, depth: usize) -> Option<Step> {
        self.skip_ws();
        let step = match self.peek()? {
            '?' => {
                self.pos += 1;
                self.skip_ws();
                if self.peek()? != '(' {
                    return None;
                }
                self.pos += 1;
                let f = self.filter(depth)?;
                self.skip_ws();
                if self.peek()? != ')' {
                    return None;
                }
                self.pos += 1;
                Step::Filter(Box::new(f))
            }
            '*' => {
                self.pos += 1;
                Step::Wildcard
            }
            '\'' | '"' => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if self.peek() != Some(',') {
                        break;
                    }
                    self.pos += 1;
                    self.skip_ws();
                    names.push(self.quoted()?);
                }
                if names.len() == 1 {
                    Step::Field(names.remove(0))
                } else {
                    Step::Fields(names)
                }
            }
            _ => {
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if c == ']' {
                        break;
                    }
                    text.push(c);
                    self.pos += 1;
                }
                let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                if text.contains(':') {
                    let parts: Vec<&str> = text.split(':').collect();
                    if parts.len() > 3 {
                        return None;
                    }
                    let num = |s: Option<&&str>| -> Option<Option<i64>> {
                        match s {
                            None => Some(None),
                            Some(&"") => Some(None),
                            Some(s) => s.parse().ok().map(Some),
                        }
                    };
                    Step::Slice(num(parts.first())?, num(parts.get(1))?, num(parts.get(2))?)
                } else {
                    let idx: Option<Vec<i64>> = text.split(',').map(|s| s.parse().ok()).collect();
                    Step::Indices(idx?)
                }
            }
        };
        self.skip_ws();
        if self.peek()? != ']' {
            return None;
        }
        self.pos += 1;
        Some(step)
    }

    fn quoted(&mut self) -> Option<String> {
        let q = self.peek()?;
        if q != '\'' && q != '"' {
            return None;
        }
        self.pos += 1;
        let mut s = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                '\\' => {
                    s.push(self.peek()?);
                    self.pos += 1;
                }
                c if c == q => return Some(s),
                c => s.push(c),
            }
        }
    }

    fn filter(&mut self, depth: usize) -> Option<Filter> {
        self.skip_ws();
        let left = self.operand(depth)?;
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => "==",
            (Some('!'), Some('=')) => "!=",
            (Some('<'), Some('=')) => "<=",
            (Some('>'), Some('=')) => ">=",
            (Some('<'), _) => "<",
            (Some('>'), _) => ">",
            _ => return Some(Filter { left, op: None }),
        };
        self.pos += op.len();
        self.skip_ws();
        let right = self.operand(depth)?;
        Some(Filter {
            left,
            op: Some((op.to_string(), right)),
        })
    }

    fn operand(&mut self, depth: usize) -> Option<Operand> {
        match self.peek()? {
            '@' => {
                self.pos += 1;
                Some(Operand::Path(self.steps(depth + 1)?))
            }
            '\'' | '"' => Some(Operand::Literal(Value::String(self.quoted()?))),
            _ => {
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || c == ')' || matches!(c, '=' | '!' | '<' | '>') {
                        break;
                    }
                    text.push(c);
                    self.pos += 1;
                }
                let v = match text.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" | "nil" => Value::Null,
                    t => serde_json::from_str::<serde_json::Number>(t)
                        .ok()
                        .map(Value::Number)?,
                };
                Some(Operand::Literal(v))
            }
        }
    }
}
