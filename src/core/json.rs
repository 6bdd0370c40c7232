//! `json`: the crate's own JSON value, reader and writer. Objects keep their keys in insertion
//! order in a plain `Vec` (profiles and configs are small, so a scan beats hashing), numbers keep
//! the text they were written with, and nothing here formats or parses floats. It replaces
//! serde + serde_json, which were a fifth of the wasm and most of the time of a call.

use std::fmt;

/// Deepest nesting the reader accepts, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

/// A JSON value. `Object` keeps insertion order.
#[derive(Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON number, kept as the (valid JSON) text it was read or built from.
#[derive(Clone, PartialEq, Eq)]
pub struct Number(String);

/// A JSON object: keys in insertion order, each at most once. Two maps are equal when they
/// have the same keys with equal values, in any order (compare `to_string()` for the order).
#[derive(Clone, Default)]
pub struct Map(Vec<(String, Value)>);

/// Why a text is not JSON, and the byte offset where the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: &'static str,
    pub offset: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for Error {}

// ----- Number ------------------------------------------------------------------------------

impl Number {
    /// Whether the text is an integer (no fraction, no exponent).
    fn is_integer(&self) -> bool {
        !self.0.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
    }
    pub fn as_u64(&self) -> Option<u64> {
        if self.is_integer() {
            self.0.parse().ok()
        } else {
            None
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_integer() {
            self.0.parse().ok()
        } else {
            None
        }
    }
    pub fn is_u64(&self) -> bool {
        self.as_u64().is_some()
    }
    pub fn is_i64(&self) -> bool {
        self.as_i64().is_some()
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ----- Map ---------------------------------------------------------------------------------

/// `a == b` for keys, inlined: most keys of a map differ in length, so the bytes (a call to
/// `memcmp`) are compared only when the lengths match.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes() == b.as_bytes()
}

impl Map {
    pub const fn new() -> Self {
        Map(Vec::new())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| same_key(k, key))
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }
    /// Set `key`; an existing key keeps its place. Returns the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }
    /// Remove `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.0.remove(i).1)
    }
    /// The value at `key`, inserted with `make` first when absent.
    pub fn entry_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> Value) -> &mut Value {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.0.push((key.to_string(), make()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v))
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &Value)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Extend<(String, Value)> for Map {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut m = Map::new();
        m.extend(iter);
        m
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (String, Value)>, fn(&'a (String, Value)) -> (&'a String, &'a Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

// ----- Value -------------------------------------------------------------------------------

/// What [`Value::get`] accepts: an object key or an array index.
pub trait Index {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value>;
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> &'v mut Value;
}

impl Index for str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_object()?.get(self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        if v.is_null() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m.entry_or_insert_with(self, || Value::Null),
            _ => panic!("cannot index {v} with a key"),
        }
    }
}
impl Index for String {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        self.as_str().index_into_mut(v)
    }
}
impl Index for usize {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_array()?.get(*self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        match v {
            Value::Array(a) => &mut a[*self],
            _ => panic!("cannot index {v} with a number"),
        }
    }
}
impl<T: Index + ?Sized> Index for &T {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        (**self).index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        (**self).index_into_mut(v)
    }
}

static NULL: Value = Value::Null;

impl<I: Index> std::ops::Index<I> for Value {
    type Output = Value;
    /// Like `get`, but `null` for anything missing (never panics).
    fn index(&self, i: I) -> &Value {
        i.index_into(self).unwrap_or(&NULL)
    }
}

impl<I: Index> std::ops::IndexMut<I> for Value {
    /// For building test values: `null` becomes an object and a missing key is added. Panics on
    /// a wrong kind or an index out of range, like a `Vec`; the crate itself never does this.
    fn index_mut(&mut self, i: I) -> &mut Value {
        i.index_into_mut(self)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}
impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}
impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}
impl PartialEq<u64> for Value {
    fn eq(&self, other: &u64) -> bool {
        self.as_u64() == Some(*other)
    }
}
impl PartialEq<i32> for Value {
    fn eq(&self, other: &i32) -> bool {
        self.as_i64() == Some(i64::from(*other))
    }
}

impl Value {
    pub fn get<I: Index>(&self, i: I) -> Option<&Value> {
        i.index_into(self)
    }
    /// RFC 6901 pointer (`/a/0/b`); `""` is the value itself.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        pointer_tokens(pointer)?.try_fold(self, |v, token| match v {
            Value::Object(m) => m.get(&token),
            Value::Array(a) => a.get(token.parse::<usize>().ok()?),
            _ => None,
        })
    }
    /// [`Value::pointer`], mutable.
    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Value> {
        pointer_tokens(pointer)?.try_fold(self, |v, token| match v {
            Value::Object(m) => m.get_mut(&token),
            Value::Array(a) => a.get_mut(token.parse::<usize>().ok()?),
            _ => None,
        })
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }
}

/// The unescaped reference tokens of an RFC 6901 pointer (none for `""`); `None` when a
/// non-empty pointer does not start with `/`.
fn pointer_tokens(pointer: &str) -> Option<impl Iterator<Item = String> + '_> {
    let rest = match pointer {
        "" => None,
        p => Some(p.strip_prefix('/')?),
    };
    Some(rest.into_iter().flat_map(|r| r.split('/')).map(|t| t.replace("~1", "/").replace("~0", "~")))
}

impl fmt::Display for Value {
    /// Compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_value(self, &mut out);
        f.write_str(&out)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}
macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(Number(n.to_string()))
            }
        }
    )*};
}
from_integer!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);
impl From<f64> for Value {
    /// Non-finite numbers have no JSON form and become `null`, as in `JSON.stringify`.
    fn from(n: f64) -> Self {
        if !n.is_finite() {
            Value::Null
        } else if n == n.trunc() && n.abs() < 1e15 {
            Value::Number(Number(format!("{}", n as i64)))
        } else {
            Value::Number(Number(format!("{n:?}")))
        }
    }
}

// ----- writing -----------------------------------------------------------------------------

/// Types with a JSON form (what serialising them to JS gives). Types write their JSON text
/// straight into a buffer, so serialising a result builds no intermediate `Value` tree.
pub trait ToJson {
    /// Append the compact JSON of `self` to `out`.
    fn write_json(&self, out: &mut String);
    /// The JSON value of `self`: by default, `write_json`'s text read back (tests, `json!`).
    fn to_value(&self) -> Value {
        from_str(&to_string(self)).unwrap_or(Value::Null)
    }
}

impl ToJson for Value {
    fn write_json(&self, out: &mut String) {
        write_value(self, out)
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl ToJson for Map {
    fn write_json(&self, out: &mut String) {
        write_object(self, out)
    }
    fn to_value(&self) -> Value {
        Value::Object(self.clone())
    }
}
impl ToJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" })
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}
macro_rules! to_json_number {
    ($($t:ty)*) => {$(
        impl ToJson for $t {
            fn write_json(&self, out: &mut String) {
                use std::fmt::Write;
                let _ = write!(out, "{self}");
            }
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
to_json_number!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);
impl ToJson for f64 {
    fn write_json(&self, out: &mut String) {
        write_value(&Value::from(*self), out)
    }
    fn to_value(&self) -> Value {
        Value::from(*self)
    }
}
impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        write_str(self, out)
    }
    fn to_value(&self) -> Value {
        Value::from(self)
    }
}
impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        write_str(self, out)
    }
    fn to_value(&self) -> Value {
        Value::from(self)
    }
}

/// Writes the JSON object of a struct, field by field: `ObjectWriter::new(out).field(…).end()`.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut String) -> Self {
        push_ascii(out, b'{');
        ObjectWriter { out, empty: true }
    }
    pub fn field(mut self, key: &str, value: impl ToJson) -> Self {
        if !self.empty {
            push_ascii(self.out, b',');
        }
        self.empty = false;
        write_str(key, self.out);
        push_ascii(self.out, b':');
        value.write_json(self.out);
        self
    }
    /// The field, left out when `None`.
    pub fn some<T: ToJson>(self, key: &str, value: &Option<T>) -> Self {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }
    pub fn end(self) {
        push_ascii(self.out, b'}');
    }
}

/// JSON text written as it is: it must be valid JSON (text this crate wrote, usually).
pub struct RawJson<'a>(pub &'a str);

impl ToJson for RawJson<'_> {
    fn write_json(&self, out: &mut String) {
        out.push_str(self.0)
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(v) => v.write_json(out),
            None => out.push_str("null"),
        }
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_value)
    }
}
impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        push_ascii(out, b'[');
        for (i, x) in self.iter().enumerate() {
            if i > 0 {
                push_ascii(out, b',');
            }
            x.write_json(out);
        }
        push_ascii(out, b']');
    }
    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_value).collect())
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out)
    }
    fn to_value(&self) -> Value {
        self.as_slice().to_value()
    }
}
impl<T: ToJson + ?Sized> ToJson for Box<T> {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out)
    }
}
impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out)
    }
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The JSON value of `v`.
pub fn to_value<T: ToJson + ?Sized>(v: &T) -> Value {
    v.to_value()
}

/// Compact JSON text of `v`.
pub fn to_string<T: ToJson + ?Sized>(v: &T) -> String {
    let mut out = String::with_capacity(256);
    v.write_json(&mut out);
    out
}

/// Append the compact JSON of `v` to `out`.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.0),
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            push_ascii(out, b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    push_ascii(out, b',');
                }
                write_value(x, out);
            }
            push_ascii(out, b']');
        }
        Value::Object(m) => write_object(m, out),
    }
}

/// Append the compact JSON of the object `m` to `out`.
pub fn write_object(m: &Map, out: &mut String) {
    push_ascii(out, b'{');
    for (i, (k, x)) in m.0.iter().enumerate() {
        if i > 0 {
            push_ascii(out, b',');
        }
        write_str(k, out);
        push_ascii(out, b':');
        write_value(x, out);
    }
    push_ascii(out, b'}');
}

/// Whether the compact JSON of `v` is at most `limit` bytes; stops counting once past it.
pub fn fits(v: &Value, limit: usize) -> bool {
    fn take(budget: &mut usize, n: usize) -> bool {
        match budget.checked_sub(n) {
            Some(rest) => {
                *budget = rest;
                true
            }
            None => false,
        }
    }
    fn len(v: &Value, budget: &mut usize) -> bool {
        match v {
            Value::Null | Value::Bool(true) => take(budget, 4),
            Value::Bool(false) => take(budget, 5),
            Value::Number(n) => take(budget, n.0.len()),
            Value::String(s) => take(budget, str_len(s)),
            // Brackets and commas, then the items.
            Value::Array(a) => take(budget, 1 + a.len().max(1)) && a.iter().all(|x| len(x, budget)),
            // Braces, commas and colons, then keys and values.
            Value::Object(m) => {
                take(budget, 1 + m.len().max(1) + m.len())
                    && m.0.iter().all(|(k, x)| take(budget, str_len(k)) && len(x, budget))
            }
        }
    }
    let mut budget = limit;
    len(v, &mut budget)
}

/// Length of `s` written as a JSON string literal.
fn str_len(s: &str) -> usize {
    let mut n = s.len() + 2;
    let mut rest = s.as_bytes();
    loop {
        let Some((&b, tail)) = rest.get(plain_len(rest)..).and_then(<[u8]>::split_first) else { return n };
        // `\u00XX` adds 5 bytes, the other escapes 1.
        n += if ESCAPE[b as usize] == b'u' { 5 } else { 1 };
        rest = tail;
    }
}

/// How `JSON.stringify` escapes each byte inside a string literal: 0 for none (the byte is
/// copied), else the letter after the backslash (`u` for `\u00XX`). One load per byte for the
/// scan and for the escape, instead of three comparisons and a `match`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// How many bytes at the start of `bytes` a JSON string literal holds as they are: up to the
/// first quote, backslash or control character. Eight bytes at a time (the usual bit trick for
/// "a byte in this word is less than / equal to"), as strings are scanned on every read and
/// every write; the word with a hit, and the last few bytes, one at a time.
fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        // A byte b sets its high bit in `x.wrapping_sub(ONES * k) & !x & HIGH` only if b < k
        // (and, for the word as a whole, at least one does whenever one is below k).
        let quote = w ^ (ONES * b'"' as u64);
        let backslash = w ^ (ONES * b'\\' as u64);
        let hit = (w.wrapping_sub(ONES * 0x20) & !w)
            | (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash);
        if hit & HIGH != 0 {
            break;
        }
        n += 8;
    }
    let rest = bytes.get(n..).unwrap_or_default();
    n + rest.iter().position(|&b| ESCAPE[b as usize] != 0).unwrap_or(rest.len())
}

/// `out.push(char::from(c))`, for ASCII punctuation (quotes, commas, colons, brackets). Public
/// for other writers of punctuation (`form_encode`).
#[inline(always)]
pub fn push_ascii(out: &mut String, c: u8) {
    out.push(char::from(c))
}

/// Append `s` as a JSON string literal, escaped as `JSON.stringify` does.
pub fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    push_ascii(out, b'"');
    write_escaped(s, out);
    push_ascii(out, b'"');
}

/// Append `s` escaped as inside a JSON string literal (without the quotes). Runs of bytes that
/// need no escape are copied with one `push_str` each.
pub fn write_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s;
    loop {
        let bytes = rest.as_bytes();
        let n = plain_len(bytes);
        // `n` is at an ASCII byte or the end, so both parts are whole characters.
        let Some((run, tail)) = rest.split_at_checked(n) else { return };
        out.push_str(run);
        let Some(&b) = tail.as_bytes().first() else { return };
        rest = tail.get(1..).unwrap_or_default();
        let e = ESCAPE[b as usize];
        push_ascii(out, b'\\');
        out.push(e as char);
        if e == b'u' {
            out.push_str("00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

// ----- reading -----------------------------------------------------------------------------

/// Read one JSON value (surrounding whitespace allowed, nothing else after it).
pub fn from_str(text: &str) -> Result<Value, Error> {
    let mut r = Reader { text, s: text.as_bytes(), i: 0 };
    let v = r.value(0)?;
    r.ws();
    if r.i != r.s.len() {
        return Err(r.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

/// [`from_str`] for bytes that should be UTF-8 text.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error { message: "not UTF-8", offset: e.valid_up_to() })?;
    from_str(text)
}

/// A cheap hash of an object key for [`Reader`]'s check of repeated keys.
#[inline(always)]
fn key_hash(key: &str) -> usize {
    let b = key.as_bytes();
    b.len() + 7 * usize::from(b.first().copied().unwrap_or(0)) + 3 * usize::from(b.last().copied().unwrap_or(0))
}

struct Reader<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, message: &'static str) -> Error {
        Error { message, offset: self.i }
    }
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.i) {
            self.i += 1;
        }
    }
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, Error> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("expected a JSON value"))
        }
    }
    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.ws();
        match self.peek() {
            None => Err(self.err("the text ends where a value should be")),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                let mut items = Vec::new();
                if !self.open(depth, b']')? {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.closes(b']', "expected `,` or `]`")? {
                            break;
                        }
                    }
                }
                Ok(Value::Array(items))
            }
            Some(b'{') => {
                let mut map = Map::new();
                // One bit per key already read, at a hash of its length and ends: a key whose bit
                // is clear is new and is pushed without comparing it with every earlier key.
                let mut seen = 0u64;
                if !self.open(depth, b'}')? {
                    // Room for 8 keys at once rather than 4, then 8 (fewer reallocations).
                    map.0.reserve_exact(8);
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let key = self.string()?;
                        self.ws();
                        if self.peek() != Some(b':') {
                            return Err(self.err("expected `:`"));
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        let bit = 1u64 << (key_hash(&key) % 64);
                        if seen & bit == 0 {
                            seen |= bit;
                            map.0.push((key, v));
                        } else {
                            // A repeated key keeps its first place and its last value, as in JS.
                            map.insert(key, v);
                        }
                        if self.closes(b'}', "expected `,` or `}`")? {
                            break;
                        }
                    }
                }
                Ok(Value::Object(map))
            }
            Some(_) => Err(self.err("expected a JSON value")),
        }
    }
    /// Step over the `[` or `{` at hand; `true` when `close` follows at once (nothing inside).
    fn open(&mut self, depth: usize, close: u8) -> Result<bool, Error> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1;
        self.ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.i += 1;
        }
        Ok(empty)
    }
    /// After an item: `true` at `close` (stepped over), `false` after a `,`.
    fn closes(&mut self, close: u8, expected: &'static str) -> Result<bool, Error> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.err(expected)),
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        // ASCII digits and signs: the slice is whole characters of the text.
        Ok(Value::Number(Number(self.text.get(start..self.i).unwrap_or_default().to_string())))
    }
    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            n = n * 16 + d as u32;
            self.i += 1;
        }
        Ok(n)
    }
    /// Step over the bytes a string literal copies as they are (up to a quote, a backslash, a
    /// control character or the end) and return them. They end before an ASCII byte or at the
    /// end, and start after one, so they are whole characters of the text.
    fn plain(&mut self) -> &'a str {
        let start = self.i;
        let rest = self.s.get(start..).unwrap_or_default();
        self.i += plain_len(rest);
        self.text.get(start..self.i).unwrap_or_default()
    }
    /// A string literal starting at the opening quote.
    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        // Most strings have no escapes: one scan, one allocation of the exact size.
        let run = self.plain();
        if self.peek() == Some(b'"') {
            self.i += 1;
            return Ok(run.to_string());
        }
        let mut out = String::from(run);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.err("control character in a string")),
            }
            out.push_str(self.plain());
        }
    }
    /// The character of the escape after a backslash, stepped over.
    fn escape(&mut self) -> Result<char, Error> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let hi = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                    let save = self.i;
                    self.i += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        self.i = save;
                        hi
                    }
                } else {
                    hi
                };
                // A lone surrogate (JSON.stringify can emit one) becomes U+FFFD.
                return Ok(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            _ => return Err(self.err("invalid escape")),
        };
        self.i += 1;
        Ok(c)
    }
}

/// Build a [`Value`] from JSON-like syntax: `json!({"a": [1, x, null]})`. Keys are any
/// expression giving a `&str` or `String` (a literal, a variable, `(format!(…))`); values are nested literals or any Rust expression with an
/// `ToJson` (taken by reference, as `serde_json::json!` does).
#[macro_export]
macro_rules! json {
    (null) => { $crate::core::json::Value::Null };
    ([]) => { $crate::core::json::Value::Array(::std::vec::Vec::new()) };
    ([ $($tt:tt)+ ]) => { $crate::core::json::Value::Array($crate::json!(@array [] [] $($tt)+)) };
    ({}) => { $crate::core::json::Value::Object($crate::core::json::Map::new()) };
    ({ $($tt:tt)+ }) => {{
        let mut object = $crate::core::json::Map::new();
        $crate::json!(@object object [] $($tt)+);
        $crate::core::json::Value::Object(object)
    }};
    // Arrays: [finished elements] [tokens of the current element] rest.
    (@array [$($done:expr,)*] [$($cur:tt)+] , $($rest:tt)*) => {
        $crate::json!(@array [$($done,)* $crate::json!($($cur)+),] [] $($rest)*)
    };
    (@array [$($done:expr,)*] [$($cur:tt)*] $next:tt $($rest:tt)*) => {
        $crate::json!(@array [$($done,)*] [$($cur)* $next] $($rest)*)
    };
    (@array [$($done:expr,)*] [$($cur:tt)+]) => { vec![$($done,)* $crate::json!($($cur)+)] };
    (@array [$($done:expr,)*] []) => { vec![$($done,)*] };
    // Objects: the tokens of a key up to `:`, then those of its value up to a top-level comma.
    (@object $o:ident []) => {};
    (@object $o:ident [$($key:tt)+] : $($rest:tt)+) => { $crate::json!(@value $o ($($key)+) [] $($rest)+) };
    (@object $o:ident [$($key:tt)*] $next:tt $($rest:tt)*) => { $crate::json!(@object $o [$($key)* $next] $($rest)*) };
    (@value $o:ident ($key:expr) [$($cur:tt)+] , $($rest:tt)*) => {
        $o.insert(::std::string::String::from($key), $crate::json!($($cur)+));
        $crate::json!(@object $o [] $($rest)*);
    };
    (@value $o:ident ($key:expr) [$($cur:tt)*] $next:tt $($rest:tt)*) => {
        $crate::json!(@value $o ($key) [$($cur)* $next] $($rest)*)
    };
    (@value $o:ident ($key:expr) [$($cur:tt)+]) => {
        $o.insert(::std::string::String::from($key), $crate::json!($($cur)+));
    };
    ($other:expr) => { $crate::core::json::ToJson::to_value(&$other) };
}

pub use crate::json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_order_and_escapes_like_json_stringify() {
        let text = r#"{"b":1,"a":[true,false,null,-0.5e3,"x\"\\\n\u0001é😀"],"c":{}}"#;
        let v = from_str(text).unwrap();
        assert_eq!(v.to_string(), r#"{"b":1,"a":[true,false,null,-0.5e3,"x\"\\\n\u0001é😀"],"c":{}}"#);
        assert_eq!(v["a"][3].as_u64(), None);
        assert_eq!(v["b"].as_u64(), Some(1));
        assert_eq!(v.pointer("/a/4").and_then(Value::as_str), Some("x\"\\\n\u{1}é😀"));
        assert!(v["missing"]["deeper"].is_null());
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        let mut v = json!({ "a/b": { "m~n": [10, 20] }, "": 1 });
        assert_eq!(v.pointer(""), Some(&v.clone()));
        assert_eq!(v.pointer("/a~1b/m~0n/1"), Some(&json!(20)));
        assert_eq!(v.pointer("/"), Some(&json!(1)));
        assert_eq!(v.pointer("/a~1b/m~0n/2"), None);
        assert_eq!(v.pointer("/a~1b/m~0n/x"), None);
        assert_eq!(v.pointer("a~1b"), None);
        *v.pointer_mut("/a~1b/m~0n/0").expect("present") = json!("ten");
        assert_eq!(v.to_string(), r#"{"a/b":{"m~n":["ten",20]},"":1}"#);
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(from_str(r#""\ud83d\ude00\/\t""#).unwrap(), Value::from("😀/\t"));
        assert_eq!(from_str(r#""\ud83d!""#).unwrap(), Value::from("\u{FFFD}!"));
        assert_eq!(from_str(r#""\ude00""#).unwrap(), Value::from("\u{FFFD}"));
        // Plain runs before, between and after escapes, with characters of several bytes.
        assert_eq!(from_str(r#""é\"ü\\\u00e9x\n""#).unwrap(), Value::from("é\"ü\\éx\n"));
        assert_eq!(from_str(r#""\t\tabcdefghijé""#).unwrap(), Value::from("\t\tabcdefghijé"));
        for (text, message, at) in [
            ("\"ab\\ncd", "unterminated string", 7),
            ("\"abcdefghij", "unterminated string", 11),
            ("\"a\\n\u{1}\"", "control character in a string", 4),
            ("\"abc\\", "invalid escape", 5),
            ("\"é\\u12x4\"", "invalid \\u escape", 7),
        ] {
            assert_eq!(from_str(text).unwrap_err(), Error { message, offset: at }, "{text:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_json_with_the_place() {
        for (text, at) in [
            ("", 0),
            ("{", 1),
            ("[1,]", 3),
            ("{\"a\" 1}", 5),
            ("01", 1),
            ("1.", 2),
            ("-", 1),
            ("\"a\nb\"", 2),
            ("\"\\x\"", 2),
            ("nul", 0),
            ("{} x", 3),
            ("'a'", 0),
        ] {
            assert_eq!(from_str(text).unwrap_err().offset, at, "{text:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(from_str(&deep).unwrap_err().message, "nested too deeply");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(from_str(&ok).is_ok());
    }

    #[test]
    fn map_keeps_insertion_order_and_replaces_in_place() {
        let mut m = Map::new();
        m.insert("z".into(), json!(1));
        m.insert("a".into(), json!(2));
        assert_eq!(m.insert("z".into(), json!(3)), Some(json!(1)));
        assert_eq!(Value::Object(m.clone()).to_string(), r#"{"z":3,"a":2}"#);
        assert_eq!(m.remove("z"), Some(json!(3)));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
        // A repeated key in the text keeps its first place and its last value.
        assert_eq!(from_str(r#"{"k":1,"j":0,"k":2}"#).unwrap().to_string(), r#"{"k":2,"j":0}"#);
        // Keys with the same hash, and more keys than the reader's 64 bits, some repeated.
        assert_eq!(from_str(r#"{"axb":1,"ayb":2,"axb":3}"#).unwrap().to_string(), r#"{"axb":3,"ayb":2}"#);
        let keys: Vec<String> = (0..300).map(|i| format!("k{}", i % 170)).collect();
        let text = format!(
            "{{{}}}",
            keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect::<Vec<_>>().join(",")
        );
        let mut expected = Map::new();
        for (i, k) in keys.iter().enumerate() {
            expected.insert(k.clone(), json!(i));
        }
        assert_eq!(from_str(&text).unwrap().to_string(), Value::Object(expected).to_string());
    }

    #[test]
    fn macro_builds_nested_values_from_expressions() {
        let name = "Ada";
        let n = 3u16;
        let v = json!({
            "name": name,
            "n": n,
            "list": [1, -2, "three", null, [], {}, { "deep": [true] }],
            (format!("k{}", 1)): Some("x"),
            "none": Option::<String>::None,
            "sum": 1 + 2
        });
        assert_eq!(
            v.to_string(),
            r#"{"name":"Ada","n":3,"list":[1,-2,"three",null,[],{},{"deep":[true]}],"k1":"x","none":null,"sum":3}"#
        );
    }

    #[test]
    fn writes_every_character_as_json_stringify_does() {
        let naive = |s: &str| {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out + "\""
        };
        let all: String = (0..0x80u8).map(char::from).chain("é😀—".chars()).collect();
        for text in
            [all.clone(), all.chars().rev().collect(), format!("plain text {all} more plain text"), String::new()]
        {
            assert_eq!(to_string(text.as_str()), naive(&text));
            assert_eq!(str_len(&text), naive(&text).len());
            assert_eq!(from_str(&to_string(text.as_str())).unwrap(), Value::from(text));
        }
    }

    #[test]
    fn plain_len_stops_at_the_first_byte_to_escape() {
        let naive = |b: &[u8]| b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\').unwrap_or(b.len());
        // Every byte value at every place of texts of 0 to 19 bytes, around the 8-byte words.
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(plain_len(&text), naive(&text), "{len} {at} {b}");
                    // A byte to escape later, and bytes next to the limits of each test.
                    for fill in [0x1f, 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff] {
                        let mut t = vec![fill; len];
                        t[at] = b;
                        assert_eq!(plain_len(&t), naive(&t), "{len} {at} {b} {fill}");
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_from_rust() {
        assert_eq!(Value::from(-7i64).to_string(), "-7");
        assert_eq!(Value::from(2.5f64).to_string(), "2.5");
        assert_eq!(Value::from(3.0f64).to_string(), "3");
        assert_eq!(Value::from(f64::NAN), Value::Null);
        assert_eq!(from_str("18446744073709551615").unwrap().as_u64(), Some(u64::MAX));
        assert_eq!(from_str("-1").unwrap().as_u64(), None);
        assert_eq!(from_str("-1").unwrap().as_i64(), Some(-1));
    }
}
