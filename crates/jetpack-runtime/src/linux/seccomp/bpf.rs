//! The classic-BPF compiler of a resolved seccomp filter, apart from name resolution because
//! it only sees numbers.
//!
//! The program, built from its end (so that every jump's distance is known when it is placed):
//!
//! ```text
//!     ld  arch            ; another ABI (i386 int 0x80 on x86_64) would bypass the numbers
//!     jeq AUDIT_ARCH_I386, I386   ; x86_64, when the filter has i386 numbers
//!     jeq AUDIT_ARCH, +0, KILL    ;   (`@docker/default` has): the same checks in those numbers
//!     ld  nr
//!     jge X32_BIT, BLOCK  ; x86_64 only: x32 calls are blocked as a whole
//!     jge 165, +0, +N     ; a balanced binary search of the listed numbers, merged into runs
//!     jge 56, ...         ;   of consecutive numbers with one verdict: jge on the first
//!     ...                 ;   number of the middle run, down to four runs, checked in turn:
//!     jeq 101, ERRNO, +0  ;   a single number by jeq,
//!     jgt 185, +0, LISTED ;   a run from the lowest number left by jgt on its last,
//!     jge 200, +0, OTHERS ;   any other run by jge on its first
//!     jgt 205, OTHERS, LISTED     ;   and jgt on its last
//!     ...
//!     ld  arg_lo          ; a call blocked on an argument (clone's flags, remove sets only):
//!     jset MASK, BLOCK, ALLOW     ;   the argument's low 32 bits (or jeq VALUE, or one jeq
//!     ...                 ;   per allowed value)
//!     ret OTHERS          ; BLOCK for a retain set, ALLOW for a remove set
//!     ret LISTED          ; ALLOW for a retain set, BLOCK for a remove set
//!     ...
//! I386:
//!     ld  nr              ; the same, in i386 numbers (no x32 check)
//!     ...
//! ```
//!
//! A call's verdict is the first it has of: its own errno (clone3 -> ENOSYS), the list, its
//! first argument condition. Returns are shared by the jumps that reach them; a target
//! further than a jump's 8-bit offset gets a trampoline next to the jump (a copy of the
//! return, or a `ja`). Each call costs the kernel a dozen instructions or so to decide,
//! instead of two per listed call: it runs the filter for every number of both ABIs when it
//! installs it (to cache the calls it allows whatever their arguments).
//!
//! BLOCK is `SECCOMP_RET_ERRNO | errno`, or `SECCOMP_RET_KILL_PROCESS` (the app dies of
//! SIGSYS) when the isolator names no errno.

use crate::spec::{ArgCondition, ArgTest, Seccomp, SeccompMode};

#[cfg(target_arch = "x86_64")]
pub(super) const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
pub(super) const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "riscv64")]
pub(super) const AUDIT_ARCH: u32 = 0xc000_00f3;

/// 32-bit x86 programs (`int 0x80`), which an x86_64 kernel runs too.
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// x32 system calls on x86_64 have this bit set in their number.
#[cfg(target_arch = "x86_64")]
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub(super) const SECCOMP_DATA_NR: u32 = 0;
pub(super) const SECCOMP_DATA_ARCH: u32 = 4;
/// `seccomp_data.args[0]`; each argument is 8 bytes.
pub(super) const SECCOMP_DATA_ARGS: u32 = 16;
/// The kernel's limit on a filter's length.
pub(super) const BPF_MAXINSNS: usize = 4096;

pub(super) fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

pub(super) fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Offset of the low 32 bits of argument `i` in `seccomp_data`.
pub(super) fn arg_low(i: u8) -> u32 {
    let hi = if cfg!(target_endian = "big") { 4 } else { 0 };
    SECCOMP_DATA_ARGS + 8 * i as u32 + hi
}

/// The BPF program of a filter (see the module documentation).
pub(crate) fn compile(s: &Seccomp) -> Result<Vec<libc::sock_filter>, String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_LD, BPF_W};
    let mut b = Backwards::default();
    // i386 calls, when the filter has their numbers, go to their own section at the end.
    let i386 = s.i386.as_deref().filter(|_| cfg!(target_arch = "x86_64"));
    let i386 = i386.map(|i| section(i, false, &mut b)).transpose()?;
    let native = section(s, true, &mut b)?;
    let mut first = b.jump(
        BPF_JEQ,
        AUDIT_ARCH,
        Target::At(native),
        Target::Ret(libc::SECCOMP_RET_KILL_PROCESS),
    );
    if let Some(i386) = i386 {
        first = b.jump(
            BPF_JEQ,
            AUDIT_ARCH_I386,
            Target::At(i386),
            Target::At(first),
        );
    }
    b.fall_to(first);
    b.push(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH));
    let p = b.finish();
    if p.len() > BPF_MAXINSNS {
        return Err(format!(
            "the seccomp filter has {} instructions, more than the kernel's {BPF_MAXINSNS}",
            p.len()
        ));
    }
    Ok(p)
}

/// What one call number gets: a return value, or the test of an argument.
#[derive(Clone, Copy)]
pub(super) enum Verdict<'a> {
    Ret(u32),
    Test(&'a ArgCondition),
}

/// Consecutive call numbers with one return value (a test has a run of its own).
pub(super) struct Run<'a> {
    lo: u32,
    hi: u32,
    verdict: Verdict<'a>,
}

/// The checks of one ABI's numbers, from loading the number to the last return; the place of
/// its first instruction. `native`: x86_64's x32 calls are blocked as a whole.
pub(super) fn section(s: &Seccomp, native: bool, b: &mut Backwards) -> Result<usize, String> {
    use libc::{BPF_ABS, BPF_LD, BPF_W};
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA);
    let block = match s.errno {
        Some(e) => errno(e),
        None => libc::SECCOMP_RET_KILL_PROCESS,
    };
    let (listed, others) = match s.mode {
        SeccompMode::Retain => (libc::SECCOMP_RET_ALLOW, block),
        SeccompMode::Remove => (block, libc::SECCOMP_RET_ALLOW),
    };
    // Every call's verdict; the first one given to a call decides: its own errno, then the
    // list, then (remove sets) its first argument condition.
    let mut calls: Vec<(u32, Verdict)> = Vec::new();
    calls.extend(s.errnos.iter().map(|&(nr, e)| (nr, Verdict::Ret(errno(e)))));
    calls.extend(s.syscalls.iter().map(|&nr| (nr, Verdict::Ret(listed))));
    if s.mode == SeccompMode::Remove {
        let mut seen = Vec::new();
        for c in &s.conditions {
            // A listed call is blocked already.
            if s.syscalls.contains(&c.syscall) || seen.contains(&c.syscall) {
                continue;
            }
            seen.push(c.syscall);
            validate(c)?;
            calls.push((c.syscall, Verdict::Test(c)));
        }
    }
    calls.sort_by_key(|&(nr, _)| nr); // stable: the first verdict of a call stays first
    calls.dedup_by_key(|&mut (nr, _)| nr);
    // Past the x32 check, the numbers are below its bit.
    #[cfg(target_arch = "x86_64")]
    let end = if native {
        u64::from(X32_SYSCALL_BIT)
    } else {
        1 << 32
    };
    #[cfg(not(target_arch = "x86_64"))]
    let end = 1 << 32;
    let mut runs: Vec<Run> = Vec::new();
    for (nr, verdict) in calls {
        if matches!(verdict, Verdict::Ret(k) if k == others) || u64::from(nr) >= end {
            continue;
        }
        match (runs.last_mut(), verdict) {
            (Some(r), Verdict::Ret(k))
                if r.hi.checked_add(1) == Some(nr)
                    && matches!(r.verdict, Verdict::Ret(l) if l == k) =>
            {
                r.hi = nr
            }
            _ => runs.push(Run {
                lo: nr,
                hi: nr,
                verdict,
            }),
        }
    }
    let start = tree(b, &runs, 0, end, others, block)?;
    #[cfg(target_arch = "x86_64")]
    let start = match native {
        true => b.jump(
            libc::BPF_JGE,
            X32_SYSCALL_BIT,
            Target::Ret(block),
            Target::At(start),
        ),
        false => start,
    };
    b.fall_to(start);
    Ok(b.push(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR)))
}

/// Runs of at most this many at the leaves of the search are checked one after the other.
pub(super) const CHAIN: usize = 4;

/// A balanced binary search of `runs`, the number in the accumulator being in `from..to`:
/// `jge` splits on the first number of the middle run, down to [`CHAIN`] runs or fewer,
/// checked in turn (see [`chain`]). The place of its first instruction.
pub(super) fn tree(
    b: &mut Backwards,
    runs: &[Run],
    from: u64,
    to: u64,
    others: u32,
    block: u32,
) -> Result<usize, String> {
    if runs.len() <= CHAIN {
        return chain(b, runs, from, to, others, block);
    }
    let mid = runs.len() / 2;
    let split = runs[mid].lo;
    // Built from the end: the upper half lands after the lower one.
    let upper = tree(b, &runs[mid..], split.into(), to, others, block)?;
    let lower = tree(b, &runs[..mid], from, split.into(), others, block)?;
    Ok(b.jump(libc::BPF_JGE, split, Target::At(upper), Target::At(lower)))
}

/// A few runs checked in turn, from the lowest, the number being in `from..to` and in none of
/// the runs already checked: a single number by `jeq`; a run starting at the lowest number
/// left by `jgt` on its last (past it, the lowest number left is the next); any other by
/// `jge` on its first (below it: no run) and `jgt` on its last. A run that ends the range
/// needs no `jgt`.
pub(super) fn chain(
    b: &mut Backwards,
    runs: &[Run],
    from: u64,
    to: u64,
    others: u32,
    block: u32,
) -> Result<usize, String> {
    use libc::{BPF_JEQ, BPF_JGE, BPF_JGT};
    // The lowest number each run can meet.
    let mut least = Vec::with_capacity(runs.len());
    let mut low = from;
    for r in runs {
        least.push(low);
        if u64::from(r.lo) == low || r.lo != r.hi {
            low = u64::from(r.hi) + 1;
        }
    }
    let otherwise = Target::Ret(others);
    let mut next = otherwise;
    for (r, &low) in runs.iter().zip(&least).rev() {
        let then = match r.verdict {
            Verdict::Ret(k) => Target::Ret(k),
            Verdict::Test(c) => Target::At(test(b, c, block)?),
        };
        let (lo, hi) = (u64::from(r.lo), u64::from(r.hi));
        next = Target::At(match (lo == low, hi + 1 == to) {
            (true, true) => b.place(then),
            (true, false) => b.jump(BPF_JGT, r.hi, next, then),
            (false, true) => b.jump(BPF_JGE, r.lo, then, otherwise),
            (false, false) if lo == hi => b.jump(BPF_JEQ, r.lo, then, next),
            (false, false) => {
                let past = b.jump(BPF_JGT, r.hi, next, then);
                b.jump(BPF_JGE, r.lo, Target::At(past), otherwise)
            }
        });
    }
    Ok(b.place(next))
}

/// The errors of an argument condition, for every condition a call would use were it not
/// given an errno of its own.
pub(super) fn validate(c: &ArgCondition) -> Result<(), String> {
    if c.arg > 5 {
        return Err(format!("system calls have 6 arguments, not {}", c.arg + 1));
    }
    match &c.test {
        ArgTest::NoneOf(vs) if vs.len() >= u8::MAX as usize => {
            Err("too many values in one argument condition".into())
        }
        _ => Ok(()),
    }
}

/// The check of a call's argument after its number matched: load the argument's low 32
/// bits, test them, go to `block` or ALLOW. The place of its first instruction.
pub(super) fn test(b: &mut Backwards, c: &ArgCondition, block: u32) -> Result<usize, String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JSET, BPF_LD, BPF_W};
    let (block, allow) = (Target::Ret(block), Target::Ret(libc::SECCOMP_RET_ALLOW));
    validate(c)?;
    let first = match &c.test {
        ArgTest::AnyBit(m) => b.jump(BPF_JSET, *m, block, allow),
        ArgTest::Equals(v) => b.jump(BPF_JEQ, *v, block, allow),
        ArgTest::NoneOf(vs) => {
            let mut next = block;
            for v in vs.iter().rev() {
                next = Target::At(b.jump(BPF_JEQ, *v, allow, next));
            }
            b.place(next)
        }
    };
    b.fall_to(first);
    Ok(b.push(stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(c.arg))))
}

/// Where a jump goes: an instruction already placed, or a return of this value.
#[derive(Clone, Copy)]
pub(super) enum Target {
    At(usize),
    Ret(u32),
}

/// A program built from its last instruction back: a jump's targets are placed before it, so
/// their distance is known, and one further than a jump reaches (255 instructions) gets a
/// trampoline next to the jump: a copy of the return it leads to, or a `ja` (32-bit offset).
/// A place is an index in `rev`, counted from the end of the program.
#[derive(Default)]
pub(super) struct Backwards {
    rev: Vec<libc::sock_filter>,
    /// The nearest return of each value.
    rets: Vec<(u32, usize)>,
}

impl Backwards {
    fn push(&mut self, i: libc::sock_filter) -> usize {
        self.rev.push(i);
        self.rev.len() - 1
    }

    fn ret(&mut self, k: u32) -> usize {
        let at = self.push(stmt(libc::BPF_RET | libc::BPF_K, k));
        self.rets.retain(|&(v, _)| v != k);
        self.rets.push((k, at));
        at
    }

    fn place(&mut self, t: Target) -> usize {
        match t {
            Target::At(at) => at,
            Target::Ret(k) => match self.rets.iter().find(|&&(v, _)| v == k) {
                Some(&(_, at)) => at,
                None => self.ret(k),
            },
        }
    }

    /// The offset from an instruction placed next to `at`.
    fn offset(&self, at: usize) -> usize {
        self.rev.len() - at - 1
    }

    /// A place next to here that leads to `at`.
    fn trampoline(&mut self, at: usize) -> usize {
        let i = self.rev[at];
        if u32::from(i.code) & 0x07 == libc::BPF_RET {
            self.ret(i.k)
        } else {
            let k = self.offset(at) as u32;
            self.push(stmt(libc::BPF_JMP | libc::BPF_JA, k))
        }
    }

    /// Makes the instruction placed next go on to `at`.
    fn fall_to(&mut self, at: usize) {
        if at + 1 != self.rev.len() {
            self.trampoline(at);
        }
    }

    /// A conditional jump (`op`: BPF_JEQ, BPF_JGE, ...) on the accumulator against `k`.
    fn jump(&mut self, op: u32, k: u32, jt: Target, jf: Target) -> usize {
        let (mut t, mut f) = (self.place(jt), self.place(jf));
        if t == f {
            return t;
        }
        let far = u8::MAX as usize;
        loop {
            if self.offset(t) > far {
                t = self.trampoline(t);
            } else if self.offset(f) > far {
                f = self.trampoline(f);
            } else {
                break;
            }
        }
        let (jt, jf) = (self.offset(t) as u8, self.offset(f) as u8);
        self.push(jump(libc::BPF_JMP | op | libc::BPF_K, k, jt, jf))
    }

    fn finish(self) -> Vec<libc::sock_filter> {
        self.rev.into_iter().rev().collect()
    }
}
