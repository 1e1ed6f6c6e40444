//go:build amd64

#include "textflag.h"

DATA expP0<>+0(SB)/4, $0x39506967
DATA expP0<>+4(SB)/4, $0x39506967
DATA expP0<>+8(SB)/4, $0x39506967
DATA expP0<>+12(SB)/4, $0x39506967
DATA expP0<>+16(SB)/4, $0x39506967
DATA expP0<>+20(SB)/4, $0x39506967
DATA expP0<>+24(SB)/4, $0x39506967
DATA expP0<>+28(SB)/4, $0x39506967
GLOBL expP0<>(SB), RODATA|NOPTR, $32

DATA expP1<>+0(SB)/4, $0x3ab743ce
DATA expP1<>+4(SB)/4, $0x3ab743ce
DATA expP1<>+8(SB)/4, $0x3ab743ce
DATA expP1<>+12(SB)/4, $0x3ab743ce
DATA expP1<>+16(SB)/4, $0x3ab743ce
DATA expP1<>+20(SB)/4, $0x3ab743ce
DATA expP1<>+24(SB)/4, $0x3ab743ce
DATA expP1<>+28(SB)/4, $0x3ab743ce
GLOBL expP1<>(SB), RODATA|NOPTR, $32

DATA expP2<>+0(SB)/4, $0x3c088908
DATA expP2<>+4(SB)/4, $0x3c088908
DATA expP2<>+8(SB)/4, $0x3c088908
DATA expP2<>+12(SB)/4, $0x3c088908
DATA expP2<>+16(SB)/4, $0x3c088908
DATA expP2<>+20(SB)/4, $0x3c088908
DATA expP2<>+24(SB)/4, $0x3c088908
DATA expP2<>+28(SB)/4, $0x3c088908
GLOBL expP2<>(SB), RODATA|NOPTR, $32

DATA expP3<>+0(SB)/4, $0x3d2aa9c1
DATA expP3<>+4(SB)/4, $0x3d2aa9c1
DATA expP3<>+8(SB)/4, $0x3d2aa9c1
DATA expP3<>+12(SB)/4, $0x3d2aa9c1
DATA expP3<>+16(SB)/4, $0x3d2aa9c1
DATA expP3<>+20(SB)/4, $0x3d2aa9c1
DATA expP3<>+24(SB)/4, $0x3d2aa9c1
DATA expP3<>+28(SB)/4, $0x3d2aa9c1
GLOBL expP3<>(SB), RODATA|NOPTR, $32

DATA expP4<>+0(SB)/4, $0x3e2aaaaa
DATA expP4<>+4(SB)/4, $0x3e2aaaaa
DATA expP4<>+8(SB)/4, $0x3e2aaaaa
DATA expP4<>+12(SB)/4, $0x3e2aaaaa
DATA expP4<>+16(SB)/4, $0x3e2aaaaa
DATA expP4<>+20(SB)/4, $0x3e2aaaaa
DATA expP4<>+24(SB)/4, $0x3e2aaaaa
DATA expP4<>+28(SB)/4, $0x3e2aaaaa
GLOBL expP4<>(SB), RODATA|NOPTR, $32

DATA expP5<>+0(SB)/4, $0x3f000000
DATA expP5<>+4(SB)/4, $0x3f000000
DATA expP5<>+8(SB)/4, $0x3f000000
DATA expP5<>+12(SB)/4, $0x3f000000
DATA expP5<>+16(SB)/4, $0x3f000000
DATA expP5<>+20(SB)/4, $0x3f000000
DATA expP5<>+24(SB)/4, $0x3f000000
DATA expP5<>+28(SB)/4, $0x3f000000
GLOBL expP5<>(SB), RODATA|NOPTR, $32

DATA expHi<>+0(SB)/4, $0x42b00000
GLOBL expHi<>(SB), RODATA|NOPTR, $4
DATA expLo<>+0(SB)/4, $0xc2b0c0a5
GLOBL expLo<>(SB), RODATA|NOPTR, $4
DATA expLog2e<>+0(SB)/4, $0x3fb8aa3b
GLOBL expLog2e<>(SB), RODATA|NOPTR, $4
DATA expHalf<>+0(SB)/4, $0x3f000000
GLOBL expHalf<>(SB), RODATA|NOPTR, $4
DATA expC1<>+0(SB)/4, $0x3f318000
GLOBL expC1<>(SB), RODATA|NOPTR, $4
DATA expC2<>+0(SB)/4, $0xb95e8083
GLOBL expC2<>(SB), RODATA|NOPTR, $4
DATA expOne<>+0(SB)/4, $0x3f800000
GLOBL expOne<>(SB), RODATA|NOPTR, $4
DATA expBias<>+0(SB)/4, $0x7f
GLOBL expBias<>(SB), RODATA|NOPTR, $4

// func expSumAVX2(dst, x *float32, n int, shift float32) float32
// For i < n (a multiple of 8): e = exp(x[i] - shift); dst[i] = e unless dst is
// nil; returns Σe. Cephes' expf: n = floor(x·log2e + ½), r = x - n·ln2 (in two
// parts), e^r by a degree-6 polynomial, times 2ⁿ built in the exponent bits.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y15
	VXORPS Y14, Y14, Y14
	VBROADCASTSS expHi<>(SB), Y13
	VBROADCASTSS expLo<>(SB), Y12
	VBROADCASTSS expLog2e<>(SB), Y11
	VBROADCASTSS expHalf<>(SB), Y10
	VBROADCASTSS expC1<>(SB), Y9
	VBROADCASTSS expC2<>(SB), Y8
	VBROADCASTSS expOne<>(SB), Y7
	VPBROADCASTD expBias<>(SB), Y6
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	VMINPS  Y13, Y0, Y0
	VMAXPS  Y12, Y0, Y0
	VMOVAPS Y10, Y1
	VFMADD231PS Y11, Y0, Y1
	VROUNDPS $1, Y1, Y1
	VFNMADD231PS Y9, Y1, Y0
	VFNMADD231PS Y8, Y1, Y0
	VMULPS  Y0, Y0, Y3
	VMOVUPS expP0<>(SB), Y2
	VFMADD213PS expP1<>(SB), Y0, Y2
	VFMADD213PS expP2<>(SB), Y0, Y2
	VFMADD213PS expP3<>(SB), Y0, Y2
	VFMADD213PS expP4<>(SB), Y0, Y2
	VFMADD213PS expP5<>(SB), Y0, Y2
	VFMADD213PS Y0, Y3, Y2
	VADDPS  Y7, Y2, Y2
	VCVTTPS2DQ Y1, Y4
	VPADDD  Y6, Y4, Y4
	VPSLLD  $23, Y4, Y4
	VMULPS  Y4, Y2, Y2
	VADDPS  Y2, Y14, Y14
	TESTQ   DI, DI
	JZ      nostore
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI

nostore:
	ADDQ $32, SI
	DECQ CX
	JNZ  loop

done:
	VEXTRACTF128 $1, Y14, X0
	VADDPS  X0, X14, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func maxAVX2(x *float32, n int) float32
// The maximum of x[:n], n a positive multiple of 8 (NaNs are not propagated).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	ADDQ $32, SI
	SHRQ $3, CX
	DECQ CX
	JZ   maxdone

maxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  maxloop

maxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func scaleAVX2(x *float32, n int, s float32)
// x[i] *= s for i < n, n a multiple of 8.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y1
	SHRQ $3, CX
	JZ   scaledone

scaleloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	DECQ CX
	JNZ  scaleloop

scaledone:
	VZEROUPPER
	RET

// func axpyAVX2(d, x *float32, n int, a float32)
// d[i] += a·x[i] for i < n, n a multiple of 8 (one FMA each).
TEXT ·axpyAVX2(SB), NOSPLIT, $0-28
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y1
	SHRQ $3, CX
	JZ   axpydone

axpyloop:
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  axpyloop

axpydone:
	VZEROUPPER
	RET

// func scaleToAVX2(d, x *float32, n int, a float32)
// d[i] = a·x[i] for i < n, n a multiple of 8.
TEXT ·scaleToAVX2(SB), NOSPLIT, $0-28
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y1
	SHRQ $3, CX
	JZ   scaletodone

scaletoloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  scaletoloop

scaletodone:
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
// Σ x[i]·y[i] for i < n, n a multiple of 8: two accumulators of 8 lanes
// while 16 remain, then one, then the lanes added pairwise.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

dot16:
	CMPQ CX, $16
	JLT  dot8
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VFMADD231PS (DI), Y2, Y0
	VFMADD231PS 32(DI), Y3, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  dot16

dot8:
	CMPQ CX, $8
	JLT  dotdone
	VMOVUPS (SI), Y2
	VFMADD231PS (DI), Y2, Y0

dotdone:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func sigSoftplusAVX2(z, e *float32, n int, prod *float32) float32
// For i < n (a multiple of 8, at most 512): z[i] = σ(z[i]) given
// e[i] = e^-|z[i]|, as (z >= 0 ? 1 : e)/(1+e). Returns Σ max(z[i], 0) and
// leaves in prod[0:8] the products of 1+e[i] lane by lane (at most 64
// factors in (1, 2] each: no overflow).
TEXT ·sigSoftplusAVX2(SB), NOSPLIT, $0-36
	MOVQ z+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ prod+24(FP), DX
	MOVL $0x3f800000, AX
	MOVQ AX, X7
	VBROADCASTSS X7, Y7
	VXORPS Y6, Y6, Y6
	VXORPS Y5, Y5, Y5
	VMOVUPS Y7, Y4
	SHRQ $3, CX
	JZ   sspdone

ssploop:
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VADDPS Y7, Y1, Y2
	VMULPS Y2, Y4, Y4
	VMAXPS Y6, Y0, Y3
	VADDPS Y3, Y5, Y5
	VCMPPS $13, Y6, Y0, Y3
	VBLENDVPS Y3, Y7, Y1, Y1
	VDIVPS Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  ssploop

sspdone:
	VMOVUPS Y4, (DX)
	VEXTRACTF128 $1, Y5, X0
	VADDPS X0, X5, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET
