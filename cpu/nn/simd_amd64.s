//go:build amd64 && !purego

#include "textflag.h"

// The loops below take n, a multiple of 8, and work on 8 floats per YMM
// register, 32 per iteration while at least 32 remain. The Go wrappers in
// simd.go handle the remainder and check lengths.

// func addAVX2(d, s *float32, n int)
// d[i] += s[i]
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX

add32:
	CMPQ    CX, $32
	JLT     add8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     add32

add8:
	CMPQ    CX, $8
	JLT     addDone
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     add8

addDone:
	VZEROUPPER
	RET

// func addReluAVX2(d, s *float32, n int)
// d[i] = max(d[i] + s[i], 0)
TEXT ·addReluAVX2(SB), NOSPLIT, $0-24
	MOVQ   d+0(FP), DI
	MOVQ   s+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y7, Y7, Y7

ar32:
	CMPQ    CX, $32
	JLT     ar8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMAXPS  Y7, Y0, Y0
	VMAXPS  Y7, Y1, Y1
	VMAXPS  Y7, Y2, Y2
	VMAXPS  Y7, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     ar32

ar8:
	CMPQ    CX, $8
	JLT     arDone
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMAXPS  Y7, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     ar8

arDone:
	VZEROUPPER
	RET

// func maxAVX2(d, s *float32, n int)
// d[i] = max(d[i], s[i])
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX

mx32:
	CMPQ    CX, $32
	JLT     mx8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMAXPS  (SI), Y0, Y0
	VMAXPS  32(SI), Y1, Y1
	VMAXPS  64(SI), Y2, Y2
	VMAXPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     mx32

mx8:
	CMPQ    CX, $8
	JLT     mxDone
	VMOVUPS (DI), Y0
	VMAXPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     mx8

mxDone:
	VZEROUPPER
	RET

// func reluGradAVX2(d, dy, y *float32, n int)
// d[i] = dy[i] if y[i] > 0, else 0 (the mask is 0 < y, predicate LT_OQ)
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-32
	MOVQ   d+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   n+24(FP), CX
	VXORPS Y7, Y7, Y7

rg32:
	CMPQ    CX, $32
	JLT     rg8
	VCMPPS  $0x11, (DX), Y7, Y0
	VCMPPS  $0x11, 32(DX), Y7, Y1
	VCMPPS  $0x11, 64(DX), Y7, Y2
	VCMPPS  $0x11, 96(DX), Y7, Y3
	VANDPS  (SI), Y0, Y0
	VANDPS  32(SI), Y1, Y1
	VANDPS  64(SI), Y2, Y2
	VANDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	ADDQ    $128, DX
	SUBQ    $32, CX
	JMP     rg32

rg8:
	CMPQ    CX, $8
	JLT     rgDone
	VCMPPS  $0x11, (DX), Y7, Y0
	VANDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     rg8

rgDone:
	VZEROUPPER
	RET

DATA iota8<>+0(SB)/4, $0
DATA iota8<>+4(SB)/4, $1
DATA iota8<>+8(SB)/4, $2
DATA iota8<>+12(SB)/4, $3
DATA iota8<>+16(SB)/4, $4
DATA iota8<>+20(SB)/4, $5
DATA iota8<>+24(SB)/4, $6
DATA iota8<>+28(SB)/4, $7
GLOBL iota8<>(SB), RODATA|NOPTR, $32

// func argmaxAVX2(best *float32, arg *int32, x *float32, n int, base int32)
// for each i: if x[i] > best[i] { best[i] = x[i]; arg[i] = base + i }
TEXT ·argmaxAVX2(SB), NOSPLIT, $0-36
	MOVQ         best+0(FP), DI
	MOVQ         arg+8(FP), SI
	MOVQ         x+16(FP), DX
	MOVQ         n+24(FP), CX
	MOVL         base+32(FP), AX
	VMOVD        AX, X4
	VPBROADCASTD X4, Y4
	VPADDD       iota8<>(SB), Y4, Y4 // Y4 = base + [0, 8)
	MOVL         $8, AX
	VMOVD        AX, X5
	VPBROADCASTD X5, Y5                // Y5 = 8 in every lane

am8:
	CMPQ      CX, $8
	JLT       amDone
	VMOVUPS   (DX), Y0
	VMOVUPS   (DI), Y1
	VCMPPS    $0x1e, Y1, Y0, Y2 // Y2 = x > best
	VBLENDVPS Y2, Y0, Y1, Y1     // best = x where greater
	VMOVUPS   Y1, (DI)
	VMOVUPS   (SI), Y3
	VBLENDVPS Y2, Y4, Y3, Y3     // arg = index where greater
	VMOVUPS   Y3, (SI)
	VPADDD    Y5, Y4, Y4
	ADDQ      $32, DI
	ADDQ      $32, SI
	ADDQ      $32, DX
	SUBQ      $8, CX
	JMP       am8

amDone:
	VZEROUPPER
	RET

// func mulAVX2(d, a, b *float32, n int)
// d[i] = a[i] * b[i]
TEXT ·mulAVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

mul8:
	CMPQ    CX, $8
	JLT     mulDone
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     mul8

mulDone:
	VZEROUPPER
	RET

DATA one8<>+0(SB)/4, $1.0
DATA one8<>+4(SB)/4, $1.0
DATA one8<>+8(SB)/4, $1.0
DATA one8<>+12(SB)/4, $1.0
DATA one8<>+16(SB)/4, $1.0
DATA one8<>+20(SB)/4, $1.0
DATA one8<>+24(SB)/4, $1.0
DATA one8<>+28(SB)/4, $1.0
GLOBL one8<>(SB), RODATA|NOPTR, $32

// func lrnFwd075AVX2(y, x, s *float32, n int, bias, alpha float32)
// y[i] = x[i] * (bias + alpha*s[i])^-0.75, as r·sqrt(r) with r = 1/sqrt(·)
TEXT ·lrnFwd075AVX2(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         s+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS bias+32(FP), Y6
	VBROADCASTSS alpha+36(FP), Y7
	VMOVUPS      one8<>(SB), Y5

lf8:
	CMPQ    CX, $8
	JLT     lfDone
	VMULPS  (DX), Y7, Y0
	VADDPS  Y6, Y0, Y0   // n = bias + alpha*s
	VSQRTPS Y0, Y0
	VDIVPS  Y0, Y5, Y0   // r = 1/sqrt(n)
	VSQRTPS Y0, Y1
	VMULPS  Y1, Y0, Y0   // p = r*sqrt(r) = n^-0.75
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     lf8

lfDone:
	VZEROUPPER
	RET

// func lrnBwdT075AVX2(p, t, x, dy, s *float32, n int, bias, alpha float32)
// p[i] = n^-0.75 and t[i] = dy[i]·x[i]·p[i]/n with n = bias + alpha*s[i]
TEXT ·lrnBwdT075AVX2(SB), NOSPLIT, $0-56
	MOVQ         p+0(FP), DI
	MOVQ         t+8(FP), R8
	MOVQ         x+16(FP), SI
	MOVQ         dy+24(FP), R9
	MOVQ         s+32(FP), DX
	MOVQ         n+40(FP), CX
	VBROADCASTSS bias+48(FP), Y6
	VBROADCASTSS alpha+52(FP), Y7
	VMOVUPS      one8<>(SB), Y5

lb8:
	CMPQ    CX, $8
	JLT     lbDone
	VMULPS  (DX), Y7, Y0
	VADDPS  Y6, Y0, Y0   // n
	VSQRTPS Y0, Y0
	VDIVPS  Y0, Y5, Y0   // r = n^-1/2
	VSQRTPS Y0, Y1
	VMULPS  Y1, Y0, Y1   // p = n^-3/4
	VMOVUPS Y1, (DI)
	VMULPS  Y0, Y0, Y0   // 1/n
	VMULPS  Y1, Y0, Y0   // p/n
	VMULPS  (SI), Y0, Y0
	VMULPS  (R9), Y0, Y0 // dy·x·p/n
	VMOVUPS Y0, (R8)
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, SI
	ADDQ    $32, R9
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     lb8

lbDone:
	VZEROUPPER
	RET

// func lrnBwdOutAVX2(dx, dy, p, x, ts *float32, n int, k float32)
// dx[i] = dy[i]·p[i] + k·x[i]·ts[i]
TEXT ·lrnBwdOutAVX2(SB), NOSPLIT, $0-52
	MOVQ         dx+0(FP), DI
	MOVQ         dy+8(FP), SI
	MOVQ         p+16(FP), DX
	MOVQ         x+24(FP), R8
	MOVQ         ts+32(FP), R9
	MOVQ         n+40(FP), CX
	VBROADCASTSS k+48(FP), Y7

lo8:
	CMPQ    CX, $8
	JLT     loDone
	VMOVUPS (R8), Y0
	VMULPS  (R9), Y0, Y0
	VMULPS  Y7, Y0, Y0
	VMOVUPS (SI), Y1
	VMULPS  (DX), Y1, Y1
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     lo8

loDone:
	VZEROUPPER
	RET
