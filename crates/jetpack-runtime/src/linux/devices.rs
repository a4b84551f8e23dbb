//! The device rules of every pod: its processes may create, read and write exactly the nodes
//! appc gives an app (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `console`, `ptmx`,
//! `pts/*`) and no other. The default capability set keeps CAP_MKNOD, so without these rules
//! the pod's root could make a node for a host disk and write it.
//!
//! cgroup v1 says it with the `devices` controller (`devices.deny` then `devices.allow`); v2
//! has no controller for it, only a `BPF_CGROUP_DEVICE` program attached to the cgroup, which
//! the kernel runs on every `mknod` and `open` of a device node and which answers allow (1) or
//! deny (0). Both are set up by stage0 on the pod's cgroup before any process is in it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `(type, major, minor)`; `None` matches every minor. Type `c`: character devices.
pub const ALLOWED: [(char, u32, Option<u32>); 9] = [
    ('c', 1, Some(3)), // null
    ('c', 1, Some(5)), // zero
    ('c', 1, Some(7)), // full
    ('c', 1, Some(8)), // random
    ('c', 1, Some(9)), // urandom
    ('c', 5, Some(0)), // tty
    ('c', 5, Some(1)), // console
    ('c', 5, Some(2)), // ptmx
    ('c', 136, None),  // pts/* (and the pod terminal bound on /dev/console)
];

/// What to write to a v1 `devices` cgroup, in order: first deny everything, then allow each
/// node (one rule per write, as the kernel wants).
pub fn v1_writes() -> Vec<(&'static str, String)> {
    let mut out = vec![("devices.deny", "a".to_string())];
    for (t, major, minor) in ALLOWED {
        let minor = minor.map_or("*".to_string(), |m| m.to_string());
        out.push(("devices.allow", format!("{t} {major}:{minor} rwm")));
    }
    out
}

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_IMM: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const JNE_IMM: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `BPF_DEVCG_DEV_CHAR`, `BPF_DEVCG_DEV_BLOCK`.
const fn dev_type(t: char) -> i32 {
    if t == 'b' { 1 } else { 2 }
}

/// The `BPF_CGROUP_DEVICE` program for [`ALLOWED`]. Its context is `struct
/// bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, the device type in the low
/// 16 bits of `access_type` (the access asked for, above them, is not looked at: every listed
/// node may be made, read and written).
pub fn program() -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0), // r2 = access_type
        insn(MOV64_REG, 3, 2, 0, 0), // r3 = r2 & 0xffff: the type
        insn(AND64_IMM, 3, 0, 0, 0xffff),
        insn(LDX_MEM_W, 4, 1, 4, 0), // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0), // r5 = minor
    ];
    for (t, major, minor) in ALLOWED {
        // Each jump skips to the next rule when a field differs.
        let left = if minor.is_some() { 4 } else { 3 };
        p.push(insn(JNE_IMM, 3, 0, left, dev_type(t)));
        p.push(insn(JNE_IMM, 4, 0, left - 1, major as i32));
        if let Some(minor) = minor {
            p.push(insn(JNE_IMM, 5, 0, 2, minor as i32));
        }
        p.push(insn(MOV64_IMM, 0, 0, 0, 1));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_IMM, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The start of `union bpf_attr` for `BPF_PROG_LOAD`.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The start of `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<libc::c_long> {
    // SAFETY: attr is the leading part of `union bpf_attr` for `cmd`, of the size passed; the
    // kernel copies it and treats the missing tail as zeros.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads [`program`] and attaches it to the v2 cgroup `dir` (with `BPF_F_ALLOW_MULTI`, so that
/// the programs of the cgroups above it still apply too). The attachment keeps the program
/// alive until the cgroup is removed.
pub fn attach_program(dir: &Path) -> io::Result<()> {
    let prog = program();
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: c"Apache-2.0".as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..ProgLoad::default()
    };
    load.prog_name[..7].copy_from_slice(b"jetpack");
    let fd = bpf(BPF_PROG_LOAD, &load)?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir)?;
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &attach).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_rules_deny_first() {
        let w = v1_writes();
        assert_eq!(w[0], ("devices.deny", "a".to_string()));
        assert!(w.contains(&("devices.allow", "c 1:3 rwm".to_string())));
        assert!(w.contains(&("devices.allow", "c 136:* rwm".to_string())));
        assert_eq!(w.len(), 1 + ALLOWED.len());
    }

    /// Runs the program's logic on a context, as the kernel would.
    fn eval(p: &[Insn], ctx: [u32; 3]) -> u64 {
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = ctx[i.off as usize / 4] as u64,
                MOV64_REG => r[dst] = r[src],
                MOV64_IMM => r[dst] = i.imm as u64,
                AND64_IMM => r[dst] &= i.imm as u64,
                JNE_IMM if r[dst] != i.imm as u64 => pc += i.off as usize,
                JNE_IMM => {}
                EXIT => return r[0],
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn program_allows_exactly_the_listed_nodes() {
        let p = program();
        let read = 2 << 16;
        let (chr, blk) = (2, 1);
        for (major, minor) in [(1, 3), (1, 5), (1, 9), (5, 0), (5, 2), (136, 0), (136, 77)] {
            assert_eq!(eval(&p, [read | chr, major, minor]), 1, "{major}:{minor}");
        }
        for (t, major, minor) in [
            (chr, 1, 1),
            (chr, 1, 11),
            (blk, 1, 3),
            (blk, 7, 0),
            (blk, 8, 0),
        ] {
            assert_eq!(eval(&p, [read | t, major, minor]), 0, "{major}:{minor}");
        }
        assert_eq!(eval(&p, [(1 << 16) | chr, 4, 0]), 0, "mknod of tty0");
    }
}
