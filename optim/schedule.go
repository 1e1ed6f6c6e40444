package optim

import "math"

// Schedule gives the learning rate for a step (0 for the first). Call
// ApplySchedule between steps to write it into an optimizer's learning-rate
// variable: plans read the variable, so no recompilation happens.
type Schedule interface {
	At(step int) float32
}

// ApplySchedule sets opt's learning rate to s.At(step) and returns it.
func ApplySchedule(opt Optimizer, s Schedule, step int) float32 {
	lr := s.At(step)
	SetLearningRate(opt, lr)
	return lr
}

// StepDecay multiplies Base by Factor every Every steps (PTB's schedule: keep the
// rate for some epochs, then halve it each epoch).
type StepDecay struct {
	Base   float32
	Every  int
	Factor float32
}

// At implements Schedule.
func (s StepDecay) At(step int) float32 {
	if s.Every <= 0 {
		return s.Base
	}
	return s.Base * float32(math.Pow(float64(s.Factor), float64(step/s.Every)))
}

// ExponentialDecay is Base·Rate^(step/Steps), with an integer exponent when
// Staircase is set (TensorFlow's exponential_decay).
type ExponentialDecay struct {
	Base, Rate float32
	Steps      int
	Staircase  bool
}

// At implements Schedule.
func (s ExponentialDecay) At(step int) float32 {
	if s.Steps <= 0 {
		return s.Base
	}
	p := float64(step) / float64(s.Steps)
	if s.Staircase {
		p = math.Floor(p)
	}
	return s.Base * float32(math.Pow(float64(s.Rate), p))
}

// CosineDecay goes from Base to Base·Alpha along half a cosine over Steps steps,
// then stays there (TensorFlow's cosine_decay).
type CosineDecay struct {
	Base  float32
	Steps int
	Alpha float32
}

// At implements Schedule.
func (s CosineDecay) At(step int) float32 {
	if s.Steps <= 0 {
		return s.Base
	}
	p := math.Min(float64(step), float64(s.Steps)) / float64(s.Steps)
	c := 0.5 * (1 + math.Cos(math.Pi*p))
	return s.Base * float32((1-float64(s.Alpha))*c+float64(s.Alpha))
}
