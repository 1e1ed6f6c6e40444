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

// func lstmPreAVX2(x, b *float32, n int, shift, scale float32)
// x[i] = (-(x[i] + b[i]) - shift) * scale
TEXT ·lstmPreAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), DI
	MOVQ         b+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y6
	VBROADCASTSS scale+28(FP), Y7
	VXORPS       Y5, Y5, Y5

lp8:
	CMPQ    CX, $8
	JLT     lpDone
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VSUBPS  Y0, Y5, Y0   // -(g + b)
	VSUBPS  Y6, Y0, Y0
	VMULPS  Y7, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     lp8

lpDone:
	VZEROUPPER
	RET

// func lstmGatesAVX2(e *float32, hid int, cprev, iA, fA, gA, oA, cN, tA *float32, n int)
// With the exponentials of a row's four gates at e, e+hid, e+2hid, e+3hid:
// i = 1/(1+ei), f = 1/(1+ef), g = 2/(1+eg) - 1, o = 1/(1+eo),
// c = f·cprev + i·g, t = -2c (as the Go loop rounds them: no fused multiply-add).
TEXT ·lstmGatesAVX2(SB), NOSPLIT, $0-80
	MOVQ         e+0(FP), SI
	MOVQ         hid+8(FP), BX
	SHLQ         $2, BX
	LEAQ         (SI)(BX*1), DX // ef; eg = SI+2BX, eo = DX+2BX
	MOVQ         cprev+16(FP), DI
	MOVQ         iA+24(FP), R8
	MOVQ         fA+32(FP), R9
	MOVQ         gA+40(FP), R10
	MOVQ         oA+48(FP), R11
	MOVQ         cN+56(FP), R12
	MOVQ         tA+64(FP), R13
	MOVQ         n+72(FP), CX
	MOVL         $0x3f800000, AX
	VMOVD        AX, X14
	VBROADCASTSS X14, Y14       // 1
	VADDPS       Y14, Y14, Y13  // 2
	MOVL         $0xc0000000, AX
	VMOVD        AX, X12
	VBROADCASTSS X12, Y12       // -2

lg8:
	CMPQ    CX, $8
	JLT     lgDone
	VADDPS  (SI), Y14, Y0
	VDIVPS  Y0, Y14, Y0         // i
	VADDPS  (DX), Y14, Y1
	VDIVPS  Y1, Y14, Y1         // f
	VADDPS  (SI)(BX*2), Y14, Y2
	VDIVPS  Y2, Y13, Y2
	VSUBPS  Y14, Y2, Y2         // g
	VADDPS  (DX)(BX*2), Y14, Y3
	VDIVPS  Y3, Y14, Y3         // o
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, (R9)
	VMOVUPS Y2, (R10)
	VMOVUPS Y3, (R11)
	VMULPS  (DI), Y1, Y4        // f·cprev
	VMULPS  Y2, Y0, Y5          // i·g
	VADDPS  Y5, Y4, Y4
	VMOVUPS Y4, (R12)
	VMULPS  Y12, Y4, Y4
	VMOVUPS Y4, (R13)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R10
	ADDQ    $32, R11
	ADDQ    $32, R12
	ADDQ    $32, R13
	SUBQ    $8, CX
	JMP     lg8

lgDone:
	VZEROUPPER
	RET

// func lstmOutAVX2(t, o, h *float32, n int)
// t[i] = 2/(1+t[i]) - 1 (tanh from its exponential), h[i] = o[i]·t[i]
TEXT ·lstmOutAVX2(SB), NOSPLIT, $0-32
	MOVQ         t+0(FP), SI
	MOVQ         o+8(FP), DX
	MOVQ         h+16(FP), DI
	MOVQ         n+24(FP), CX
	MOVL         $0x3f800000, AX
	VMOVD        AX, X14
	VBROADCASTSS X14, Y14      // 1
	VADDPS       Y14, Y14, Y13 // 2

lo8:
	CMPQ    CX, $8
	JLT     loDone
	VADDPS  (SI), Y14, Y0
	VDIVPS  Y0, Y13, Y0
	VSUBPS  Y14, Y0, Y0
	VMOVUPS Y0, (SI)
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     lo8

loDone:
	VZEROUPPER
	RET

// func lstmBackAVX2(pk2, pk5, dy2, dy5 *float32, s int, dg *float32, hid int, dh, dc, cprev, dcOut *float32, n int)
// One row of an LSTM step's backward pass (see LSTMBack): the slots i, f, g
// of the forward's output at pk2, pk2+s, pk2+2s and o, tanh(c) at pk5, pk5+s;
// the outputs' gradients likewise at dy2 and dy5; the gates' gradients written
// at dg, dg+hid, dg+2hid, dg+3hid. The count lives in its argument slot: every
// general register but one holds a pointer.
TEXT ·lstmBackAVX2(SB), NOSPLIT, $0-96
	MOVQ         pk2+0(FP), AX
	MOVQ         pk5+8(FP), BX
	MOVQ         dy2+16(FP), DX
	MOVQ         dy5+24(FP), SI
	MOVQ         s+32(FP), DI
	SHLQ         $2, DI
	MOVQ         dg+40(FP), R8
	MOVQ         hid+48(FP), R10
	SHLQ         $2, R10
	LEAQ         (R8)(R10*2), R9
	ADDQ         R10, R9
	MOVQ         dh+56(FP), R11
	MOVQ         dc+64(FP), R12
	MOVQ         cprev+72(FP), R13
	MOVL         $0x3f800000, CX
	VMOVD        CX, X14
	VBROADCASTSS X14, Y14             // 1
	MOVQ         dcOut+80(FP), CX

lb8:
	CMPQ    n+88(FP), $8
	JLT     lbDone
	VMOVUPS (R11), Y0                 // dh
	VMOVUPS (BX), Y1                  // o
	VMOVUPS (BX)(DI*1), Y2            // tanh(c)
	VMULPS  Y1, Y0, Y3
	VADDPS  (SI)(DI*1), Y3, Y3        // dt = dh·o + dt0
	VMULPS  Y2, Y2, Y4
	VSUBPS  Y4, Y14, Y4
	VMULPS  Y4, Y3, Y4
	VADDPS  (R12), Y4, Y4             // dc = dcN + dt·(1-t²)
	VMULPS  Y2, Y0, Y5
	VADDPS  (SI), Y5, Y5              // do = dh·t + do0
	VMULPS  Y1, Y5, Y5
	VSUBPS  Y1, Y14, Y6
	VMULPS  Y6, Y5, Y5                // dgo = do·o·(1-o)
	VMOVUPS Y5, (R9)
	VMOVUPS (AX), Y6                  // i
	VMOVUPS (AX)(DI*1), Y7            // f
	VMOVUPS (AX)(DI*2), Y8            // g
	VMULPS  Y8, Y4, Y9
	VADDPS  (DX), Y9, Y9              // di = dc·g + di0
	VMULPS  Y6, Y9, Y9
	VSUBPS  Y6, Y14, Y10
	VMULPS  Y10, Y9, Y9               // dgi = di·i·(1-i)
	VMOVUPS Y9, (R8)
	VMULPS  (R13), Y4, Y9
	VADDPS  (DX)(DI*1), Y9, Y9        // df = dc·cprev + df0
	VMULPS  Y7, Y9, Y9
	VSUBPS  Y7, Y14, Y10
	VMULPS  Y10, Y9, Y9               // dgf = df·f·(1-f)
	VMOVUPS Y9, (R8)(R10*1)
	VMULPS  Y6, Y4, Y9
	VADDPS  (DX)(DI*2), Y9, Y9        // dg = dc·i + dg0
	VMULPS  Y8, Y8, Y10
	VSUBPS  Y10, Y14, Y10
	VMULPS  Y10, Y9, Y9               // dgg = dg·(1-g²)
	VMOVUPS Y9, (R8)(R10*2)
	VMULPS  Y7, Y4, Y9
	VMOVUPS Y9, (CX)                  // dcOut = dc·f (dcOut may be dc)
	ADDQ    $32, AX
	ADDQ    $32, BX
	ADDQ    $32, DX
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R11
	ADDQ    $32, R12
	ADDQ    $32, R13
	ADDQ    $32, CX
	SUBQ    $8, n+88(FP)
	JMP     lb8

lbDone:
	VZEROUPPER
	RET

// func copyRunsAVX2(dst *float32, ds int, src *float32, ss int, n, run int)
// For i < n, copies run (at least 8) floats from src+i·ss to dst+i·ds: 8
// floats at a time, the last 8 of each run overlapping the block before them,
// so that no run needs a mask or a scalar tail.
TEXT ·copyRunsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ds+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ss+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ run+40(FP), DX
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, DX
	LEAQ -32(DX), R10 // byte offset of the last block of a run

crSeg:
	TESTQ CX, CX
	JE    crDone
	XORQ  AX, AX

crBlk:
	CMPQ    AX, R10
	JAE     crTail
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     crBlk

crTail:
	VMOVUPS (SI)(R10*1), Y0
	VMOVUPS Y0, (DI)(R10*1)
	ADDQ    R8, DI
	ADDQ    R9, SI
	DECQ    CX
	JMP     crSeg

crDone:
	VZEROUPPER
	RET

// func maxRowsAVX2(d *float32, ds int, s *float32, ss int, rows, n int)
// For r < rows and i < n (a multiple of 8): d[r·ds+i] = max(d[r·ds+i], s[r·ss+i]):
// one tap of a pooling window over a row of output pixels.
TEXT ·maxRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ ds+8(FP), R8
	MOVQ s+16(FP), SI
	MOVQ ss+24(FP), R9
	MOVQ rows+32(FP), BX
	MOVQ n+40(FP), DX
	SHLQ $2, R8
	SHLQ $2, R9

mrRow:
	TESTQ BX, BX
	JE    mrDone
	XORQ  AX, AX
	MOVQ  DX, CX

mr8:
	CMPQ    CX, $8
	JLT     mrNext
	VMOVUPS (DI)(AX*4), Y0
	VMAXPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	SUBQ    $8, CX
	JMP     mr8

mrNext:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ BX
	JMP  mrRow

mrDone:
	VZEROUPPER
	RET

// func argmaxRowsAVX2(best *float32, arg *int32, bs int, x *float32, xs int, rows, n int, base, step int32)
// For r < rows and i < n (a multiple of 8): if x[r·xs+i] > best[r·bs+i], then
// best[r·bs+i] = x[r·xs+i] and arg[r·bs+i] = base + r·step + i.
TEXT ·argmaxRowsAVX2(SB), NOSPLIT, $0-64
	MOVQ         best+0(FP), DI
	MOVQ         arg+8(FP), SI
	MOVQ         bs+16(FP), R8
	MOVQ         x+24(FP), DX
	MOVQ         xs+32(FP), R9
	MOVQ         rows+40(FP), BX
	MOVQ         n+48(FP), R10
	MOVL         base+56(FP), AX
	VMOVD        AX, X6
	VPBROADCASTD X6, Y6
	VPADDD       iota8<>(SB), Y6, Y6 // Y6 = base + [0, 8): the row's first indices
	MOVL         step+60(FP), AX
	VMOVD        AX, X7
	VPBROADCASTD X7, Y7                // Y7 = step in every lane
	MOVL         $8, AX
	VMOVD        AX, X5
	VPBROADCASTD X5, Y5                // Y5 = 8 in every lane
	SHLQ         $2, R8
	SHLQ         $2, R9

amrRow:
	TESTQ   BX, BX
	JE      amrDone
	XORQ    AX, AX
	MOVQ    R10, CX
	VMOVDQU Y6, Y4

amr8:
	CMPQ      CX, $8
	JLT       amrNext
	VMOVUPS   (DX)(AX*4), Y0
	VMOVUPS   (DI)(AX*4), Y1
	VCMPPS    $0x1e, Y1, Y0, Y2
	VBLENDVPS Y2, Y0, Y1, Y1
	VMOVUPS   Y1, (DI)(AX*4)
	VMOVUPS   (SI)(AX*4), Y3
	VBLENDVPS Y2, Y4, Y3, Y3
	VMOVUPS   Y3, (SI)(AX*4)
	VPADDD    Y5, Y4, Y4
	ADDQ      $8, AX
	SUBQ      $8, CX
	JMP       amr8

amrNext:
	ADDQ   R8, DI
	ADDQ   R8, SI
	ADDQ   R9, DX
	VPADDD Y7, Y6, Y6
	DECQ   BX
	JMP    amrRow

amrDone:
	VZEROUPPER
	RET
