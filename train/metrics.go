package train

// Correct counts the rows of logits (N rows of classes values, row-major) whose
// largest value is at the row's label; ties count as wrong unless the label
// comes first. It allocates nothing.
func Correct(logits []float32, labels []int32, classes int) int {
	return CorrectTopK(logits, labels, classes, 1)
}

// CorrectTopK counts the rows whose label is among the k largest logits: fewer
// than k values of the row are strictly greater than the label's, and, among
// equal values, those before the label count as greater (so exactly k classes
// are "in the top k", as in a stable sort). Labels outside [0, classes) count as
// wrong. It allocates nothing.
func CorrectTopK(logits []float32, labels []int32, classes, k int) int {
	if classes <= 0 {
		return 0
	}
	n := 0
	for r, lab := range labels {
		if lab < 0 || int(lab) >= classes || (r+1)*classes > len(logits) {
			continue
		}
		row := logits[r*classes : (r+1)*classes]
		v := row[lab]
		above := 0
		for j, x := range row {
			if x > v || (x == v && j < int(lab)) {
				above++
				if above >= k {
					break
				}
			}
		}
		if above < k {
			n++
		}
	}
	return n
}

// Mean is a running average weighted by counts (a batch's mean loss weighted
// by its size, say).
type Mean struct {
	sum float64
	n   float64
}

// Add adds a value that stands for weight examples.
func (m *Mean) Add(v float64, weight int) {
	m.sum += v * float64(weight)
	m.n += float64(weight)
}

// Value is the average so far (0 before any Add).
func (m *Mean) Value() float64 {
	if m.n == 0 {
		return 0
	}
	return m.sum / m.n
}

// Count is the total weight added.
func (m *Mean) Count() int { return int(m.n) }

// Reset forgets everything added.
func (m *Mean) Reset() { *m = Mean{} }
