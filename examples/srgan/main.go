// Command srgan trains SRGAN (Ledig et al. 2017) for 4× super-resolution on
// Fashion-MNIST: 28×28 images downscaled to 7×7 (4×4 box averages) and back.
// The generator is SRGAN's residual network with sub-pixel upsampling
// (layers.SubPixel2D), the discriminator SRGAN's strided convolutions with
// batch norm and leaky ReLU. As in the paper, the generator is first trained on
// pixel MSE alone (SRResNet), then against the discriminator on a content loss
// (the MSE of a network's features: here the first two convolution blocks of
// the Fashion-MNIST classifier trained by examples/fashionmnist, in place of
// VGG) plus 1e-3 × the adversarial loss.
//
//	go run ./examples/fashionmnist --save clf    # the content loss's network
//	go run ./examples/srgan --classifier clf
//
// Both phases end with PSNR and SSIM on the test images, against bicubic
// upscaling; the grid (--out) shows, per test image, the low-resolution input,
// bicubic, the pixel-loss generator, SRGAN and the original. The pixel-loss
// generator (NAME-srresnet), the generator and the discriminator are saved as
// model versions with the losses as training events, as examples/dcgan does.
//
// Lines of code, counted as the TensorLayer paper counts them (without blank
// and comment lines): the model and its training (model.go, train.go, with
// the events and model versions), 373 (goal 400; the paper's TensorLayer
// SRGAN: 526); the whole program, with the command line, PSNR, SSIM, bicubic
// upscaling and the grid, 688.
//
// Flags: --pre-epochs, --epochs, --batch, --pre-lr, --lr, --adv, --filters,
// --blocks, --df, --scale, --classifier, --data, --limit, --eval-n, --out,
// --save, --home, --mongo, --record, --name, --device, --seed (see --help).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/tlgo/tl/examples/internal/trainflags"
	"github.com/tlgo/tl/formats"
)

func main() {
	o := options{Arch: arch{Size: 28}, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	flag.IntVar(&o.PreEpochs, "pre-epochs", 2, "epochs of pre-training on pixel MSE (SRResNet)")
	flag.IntVar(&o.Epochs, "epochs", 2, "epochs of adversarial training")
	flag.IntVar(&o.Batch, "batch", 16, "batch size (SRGAN: 16)")
	flag.Float64Var(&o.PreLR, "pre-lr", 1e-3, "Adam's learning rate in pre-training (SRGAN: 1e-4 over 10^6 steps)")
	flag.Float64Var(&o.LR, "lr", 1e-4, "Adam's learning rate in adversarial training (SRGAN: 1e-4)")
	flag.Float64Var(&o.Adv, "adv", 1e-3, "weight of the adversarial loss against the content loss (SRGAN: 1e-3)")
	flag.IntVar(&o.Arch.F, "filters", 64, "the generator's filters (SRGAN: 64)")
	flag.IntVar(&o.Arch.Blocks, "blocks", 16, "the generator's residual blocks (SRGAN: 16)")
	flag.IntVar(&o.Arch.DF, "df", 64, "the discriminator's first filters (SRGAN: 64)")
	flag.IntVar(&o.Arch.Scale, "scale", 4, "upscaling factor, a power of 2 dividing 28")
	flag.StringVar(&o.Classifier, "classifier", "", "a Fashion-MNIST classifier saved by examples/fashionmnist --save: the content loss's features (required)")
	flag.IntVar(&o.EvalN, "eval-n", 10000, "test images measured")
	flag.StringVar(&o.OutDir, "out", "srgan-out", "folder of the grid (srgan-grid.png)")
	flag.StringVar(&o.SaveDir, "save", "", "also write the networks to this folder")
	flag.IntVar(&o.LogEvery, "log-every", 100, "log and record the losses every N steps")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of initialisation and shuffling")
	flag.StringVar(&o.Name, "name", "srgan", "the models' name prefix in the store (NAME-srresnet, NAME-generator, NAME-discriminator)")
	where := trainflags.Register(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: srgan --classifier DIR [flags]\n\nTrains SRGAN for 4x super-resolution of Fashion-MNIST (7x7 to 28x28) and measures it against bicubic upscaling.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.Classifier == "" {
		fatal(2, errors.New("--classifier DIR is required: train one with go run ./examples/fashionmnist --save DIR"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if o.Train, err = where.TrainImages(ctx); err != nil {
		fatal(1, err)
	}
	if o.Test, err = formats.FashionMNIST(ctx, where.Data, formats.Test); err != nil {
		fatal(1, err)
	}
	dev, closeDev, err := where.OpenDevice()
	if err != nil {
		fatal(trainflags.ExitCode(err), err)
	}
	defer closeDev()
	o.Device = dev
	db, closeDB, err := where.OpenStore(ctx, o.Log)
	if err != nil {
		fatal(1, err)
	}
	defer closeDB()
	o.DB = db
	res, err := run(ctx, o)
	if err != nil {
		fatal(1, err)
	}
	fmt.Printf("srgan: test PSNR/SSIM on %d images: bicubic %.2f dB / %.4f, pixel loss only %.2f dB / %.4f, SRGAN %.2f dB / %.4f; grid %s\n",
		min(o.EvalN, o.Test.N), res.Bicubic.PSNR, res.Bicubic.SSIM, res.PixelOnly.PSNR, res.PixelOnly.SSIM, res.SRGAN.PSNR, res.SRGAN.SSIM, res.Grid)
	if res.GenVersion > 0 {
		fmt.Printf("saved as %s-srresnet v%d and %s-generator v%d (run %s)\n", o.Name, res.PixelVersion, o.Name, res.GenVersion, res.Run)
	}
}

func fatal(code int, err error) { trainflags.Exit("srgan", code, err) }
