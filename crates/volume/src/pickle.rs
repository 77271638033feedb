//! Numpy arrays from Python pickles (the KneeMRI `.pck` files), read without Python.
//!
//! Why not `serde-pickle`: it stands an object in for its `BUILD` state and drops the
//! arguments of the `REDUCE` that made it. For a numpy `dtype` those arguments are the only
//! place the type code (`'u2'`, `'i4'`, `'f4'`) lives, so the element type cannot be recovered
//! from its output. This module is the small subset of the pickle machine that numpy arrays
//! use (protocols 2 to 5), keeping each object's class, arguments and state. It never runs
//! code: globals are names, and only `_codecs.encode` (how Python 3 writes bytes in
//! protocol 2) is evaluated.
//!
//! Both module names numpy has used for the array reconstructor are accepted:
//! `numpy.core.multiarray` (numpy 1.x, the KneeMRI files) and `numpy._core.multiarray` (2.x).

use std::rc::Rc;

/// A numpy array found in a pickle, its data still raw.
#[derive(Debug, Clone, PartialEq)]
pub struct PickledArray {
    /// The array's shape.
    pub shape: Vec<u64>,
    /// Its numpy type string with byte order (`<u2`, `>f4`, `|u1`).
    pub descr: String,
    /// True when stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The raw element bytes.
    pub data: Rc<[u8]>,
}

/// Why a pickle could not be read as a numpy array.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    /// The stream ends before a STOP opcode or in the middle of an argument.
    #[error("pickle ends early at byte {0}")]
    Truncated(usize),
    /// An opcode this reader does not take (protocol 0/1 text opcodes, persistent ids, ...).
    #[error("unsupported pickle opcode 0x{op:02x} at byte {pos}")]
    Unsupported {
        /// The opcode.
        op: u8,
        /// Its offset.
        pos: usize,
    },
    /// The opcodes do not make sense together (stack underflow, unknown memo key...).
    #[error("malformed pickle at byte {pos}: {what}")]
    Malformed {
        /// Offset of the opcode.
        pos: usize,
        /// What went wrong.
        what: &'static str,
    },
    /// The pickle is fine but does not hold a numpy array.
    #[error("the pickle does not hold a numpy array ({0})")]
    NotAnArray(String),
    /// It needs more memory than a sane array pickle would.
    #[error("pickle exceeds a limit: {0}")]
    Limit(&'static str),
}

/// Largest stack or memo a numpy pickle can need, many times over.
const MAX_ITEMS: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(Rc<[u8]>),
    Str(Rc<str>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<Vec<Value>>),
    Dict(Rc<Vec<(Value, Value)>>),
    Global(Rc<(String, String)>),
    Object(Rc<Object>),
    Mark,
}

#[derive(Debug, Clone, PartialEq)]
struct Object {
    class: Value,
    args: Value,
    state: Option<Value>,
}

/// Reads the numpy array pickled whole in `bytes`.
pub fn load_numpy_array(bytes: &[u8]) -> Result<PickledArray, PickleError> {
    let root = Machine {
        bytes,
        pos: 0,
        stack: Vec::new(),
        memo: Vec::new(),
    }
    .run()?;
    array_from(&root)
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: Vec<Option<Value>>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(PickleError::Truncated(self.bytes.len()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn len_u32(&mut self) -> Result<usize, PickleError> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        usize::try_from(u64::from_le_bytes(self.le()?))
            .map_err(|_| PickleError::Truncated(self.pos))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated(self.bytes.len()))?;
        let text = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(text)
    }

    fn malformed(&self, what: &'static str) -> PickleError {
        PickleError::Malformed {
            pos: self.pos,
            what,
        }
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Value::Mark) | None => Err(self.malformed("stack underflow")),
            Some(v) => Ok(v),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.stack.iter().rposition(|v| *v == Value::Mark);
        let mark = mark.ok_or_else(|| self.malformed("no MARK on the stack"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_ITEMS {
            return Err(PickleError::Limit("stack too deep"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn memo_put(&mut self, key: usize) -> Result<(), PickleError> {
        if key >= MAX_ITEMS {
            return Err(PickleError::Limit("memo key too large"));
        }
        let top = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.malformed("memo of empty stack"))?;
        if self.memo.len() <= key {
            self.memo.resize(key + 1, None);
        }
        self.memo[key] = Some(top);
        Ok(())
    }

    fn memo_get(&mut self, key: usize) -> Result<(), PickleError> {
        let v = self.memo.get(key).cloned().flatten();
        let v = v.ok_or_else(|| self.malformed("memo key not set"))?;
        self.push(v)
    }

    fn text(&mut self, n: usize) -> Result<Value, PickleError> {
        let raw = self.take(n)?;
        let s = std::str::from_utf8(raw).map_err(|_| self.malformed("string is not UTF-8"))?;
        Ok(Value::Str(s.into()))
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let pos = self.pos;
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.push(Value::Mark)?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64))?
                }
                b'K' => {
                    let v = self.take(1)?[0];
                    self.push(Value::Int(v as i64))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64))?
                }
                0x8a => {
                    let n = self.take(1)?[0] as usize;
                    let raw = self.take(n)?;
                    let v = long_from_le(raw).ok_or_else(|| self.malformed("integer too large"))?;
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v))?
                }
                b'U' | b'C' => {
                    let n = self.take(1)?[0] as usize;
                    let raw = self.take(n)?;
                    self.push(Value::Bytes(raw.into()))?
                }
                b'T' | b'B' => {
                    let n = self.len_u32()?;
                    let raw = self.take(n)?;
                    self.push(Value::Bytes(raw.into()))?
                }
                0x8e | 0x96 => {
                    let n = self.len_u64()?;
                    let raw = self.take(n)?;
                    self.push(Value::Bytes(raw.into()))?
                }
                0x8c => {
                    let n = self.take(1)?[0] as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                b'X' => {
                    let n = self.len_u32()?;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                b')' => self.push(Value::Tuple(Rc::new(Vec::new())))?,
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::Tuple(Rc::new(items)))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Rc::new(items)))?
                }
                b']' => self.push(Value::List(Rc::new(Vec::new())))?,
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::List(Rc::new(items)))?
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_to_mark()?
                    };
                    match self.stack.last_mut() {
                        Some(Value::List(list)) => Rc::make_mut(list).extend(items),
                        _ => return Err(self.malformed("APPEND to a non-list")),
                    }
                }
                b'}' => self.push(Value::Dict(Rc::new(Vec::new())))?,
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_to_mark()?
                    };
                    if items.len() % 2 != 0 {
                        return Err(self.malformed("SETITEMS with an odd item count"));
                    }
                    let Some(Value::Dict(dict)) = self.stack.last_mut() else {
                        return Err(self.malformed("SETITEM on a non-dict"));
                    };
                    let dict = Rc::make_mut(dict);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        dict.push((k, v));
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(Rc::new((module, name))))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.push(Value::Global(Rc::new((m.to_string(), n.to_string()))))?
                        }
                        _ => return Err(self.malformed("STACK_GLOBAL needs two strings")),
                    }
                }
                b'q' => {
                    let k = self.take(1)?[0] as usize;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = self.len_u32()?;
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len();
                    self.memo_put(k)?
                }
                b'h' => {
                    let k = self.take(1)?[0] as usize;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = self.len_u32()?;
                    self.memo_get(k)?
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v =
                        reduce(class, args).map_err(|what| PickleError::Malformed { pos, what })?;
                    self.push(v)?
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::Object(obj)) => Rc::make_mut(obj).state = Some(state),
                        _ => return Err(self.malformed("BUILD on a non-object")),
                    }
                }
                0x97 | 0x98 => {}
                _ => return Err(PickleError::Unsupported { op, pos }),
            }
        }
    }
}

fn long_from_le(raw: &[u8]) -> Option<i64> {
    if raw.is_empty() {
        return Some(0);
    }
    if raw.len() > 8 {
        return None;
    }
    let fill = if raw[raw.len() - 1] & 0x80 != 0 {
        0xff
    } else {
        0
    };
    let mut buf = [fill; 8];
    buf[..raw.len()].copy_from_slice(raw);
    Some(i64::from_le_bytes(buf))
}

/// Applies a callable: `_codecs.encode(str, 'latin1')` becomes bytes; anything else becomes an
/// inert object that remembers its class and arguments.
fn reduce(class: Value, args: Value) -> Result<Value, &'static str> {
    if let (Value::Global(g), Value::Tuple(items)) = (&class, &args)
        && g.0 == "_codecs"
        && g.1 == "encode"
    {
        return match items.first() {
            Some(Value::Str(s)) => s
                .chars()
                .map(|c| {
                    u8::try_from(c as u32).map_err(|_| "_codecs.encode of a non-latin1 string")
                })
                .collect::<Result<Vec<u8>, _>>()
                .map(|b| Value::Bytes(b.into())),
            _ => Err("_codecs.encode without a string"),
        };
    }
    Ok(Value::Object(Rc::new(Object {
        class,
        args,
        state: None,
    })))
}

fn not_array(what: impl Into<String>) -> PickleError {
    PickleError::NotAnArray(what.into())
}

fn is_global(v: &Value, modules: &[&str], name: &str) -> bool {
    matches!(v, Value::Global(g) if modules.contains(&g.0.as_str()) && g.1 == name)
}

fn array_from(root: &Value) -> Result<PickledArray, PickleError> {
    let Value::Object(obj) = root else {
        return Err(not_array("top-level value is not an object"));
    };
    let reconstructors = ["numpy.core.multiarray", "numpy._core.multiarray"];
    if !is_global(&obj.class, &reconstructors, "_reconstruct") {
        return Err(not_array("top-level object is not numpy's _reconstruct"));
    }
    let Some(Value::Tuple(state)) = &obj.state else {
        return Err(not_array("array without state"));
    };
    let [
        _version,
        Value::Tuple(shape),
        Value::Object(dtype),
        fortran,
        data,
    ] = state.as_slice()
    else {
        return Err(not_array(
            "array state is not (version, shape, dtype, fortran, data)",
        ));
    };
    let shape = shape
        .iter()
        .map(|d| match d {
            Value::Int(n) if *n >= 0 => Ok(*n as u64),
            _ => Err(not_array("shape holds a non-integer")),
        })
        .collect::<Result<Vec<u64>, _>>()?;
    let fortran_order = matches!(fortran, Value::Bool(true) | Value::Int(1));
    let Value::Bytes(data) = data else {
        return Err(not_array("array data is not raw bytes (an object array?)"));
    };
    Ok(PickledArray {
        shape,
        descr: dtype_descr(dtype)?,
        fortran_order,
        data: data.clone(),
    })
}

fn dtype_descr(dtype: &Object) -> Result<String, PickleError> {
    if !is_global(&dtype.class, &["numpy"], "dtype") {
        return Err(not_array("array dtype is not a numpy.dtype"));
    }
    let code = match &dtype.args {
        Value::Tuple(a) => match a.first() {
            Some(Value::Str(s)) => s.to_string(),
            _ => return Err(not_array("dtype without a type code")),
        },
        _ => return Err(not_array("dtype without arguments")),
    };
    let order = match &dtype.state {
        Some(Value::Tuple(s)) => match s.get(1) {
            Some(Value::Str(o)) => o.to_string(),
            _ => "|".into(),
        },
        _ => "|".into(),
    };
    Ok(format!("{order}{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_garbage_streams_give_errors() {
        assert_eq!(load_numpy_array(&[]), Err(PickleError::Truncated(0)));
        assert!(matches!(
            load_numpy_array(&[0x80, 2, b'N', b'.']),
            Err(PickleError::NotAnArray(_))
        ));
        assert!(matches!(
            load_numpy_array(&[0x80, 2, b'.']),
            Err(PickleError::Malformed { .. })
        ));
        assert!(matches!(
            load_numpy_array(&[0x80, 2, b'P']),
            Err(PickleError::Unsupported { .. })
        ));
        assert!(matches!(
            load_numpy_array(&[0x80, 2, b'h', 9]),
            Err(PickleError::Malformed { .. })
        ));
    }

    #[test]
    fn small_integers_of_any_width_decode() {
        assert_eq!(long_from_le(&[0xff]), Some(-1));
        assert_eq!(long_from_le(&[0x00, 0x01]), Some(256));
        assert_eq!(long_from_le(&[]), Some(0));
        assert_eq!(long_from_le(&[1; 9]), None);
    }
}
