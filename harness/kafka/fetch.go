package kafka

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// holdEmpty is how long the proxy holds back a Fetch response the gate
// emptied: the broker answered at once because it had records, and the
// consumer, given none, would ask again at once.
const holdEmpty = 20 * time.Millisecond

// noteFetch tells the gate where a Fetch request fetches from.
func (k *link) noteFetch(req request) {
	g := k.p.currentGate()
	if g == nil {
		return
	}
	var fr kmsg.FetchRequest
	fr.SetVersion(req.version)
	if fr.ReadFrom(req.body) != nil {
		return
	}
	for _, t := range fr.Topics {
		if g.names(t.Topic, t.TopicID) {
			for _, p := range t.Partitions {
				g.fetchedAt(p.Partition, p.FetchOffset)
			}
		}
	}
}

// fetched treats a Fetch response: the records the gate holds back are
// taken out, what is left is counted as a poll of the session when it
// has records, and the session's FetchFault is applied. It returns the
// frame to relay and how long to hold it back first.
func (k *link) fetched(req request, frame []byte) ([]byte, time.Duration, error) {
	body, err := responseBody(req, frame)
	if err != nil {
		return nil, 0, err
	}
	var resp kmsg.FetchResponse
	resp.SetVersion(req.version)
	if err := resp.ReadFrom(body); err != nil {
		return nil, 0, fmt.Errorf("kafka: proxy: read Fetch response: %w", err)
	}
	g := k.p.currentGate()
	changed, withheld, records := false, false, 0
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if g != nil && g.names(t.Topic, t.TopicID) {
				if kept := batchesBelow(p.RecordBatches, g.below(p.Partition)); len(kept) < len(p.RecordBatches) {
					p.RecordBatches, changed, withheld = kept, true, true
				}
			}
			records += countRecords(p.RecordBatches)
		}
	}
	if records > 0 {
		if f := k.s.polled(records); f != nil {
			for ti := range resp.Topics {
				for pi := range resp.Topics[ti].Partitions {
					p := &resp.Topics[ti].Partitions[pi]
					p.ErrorCode, p.RecordBatches = f.Code, nil
				}
			}
			changed = true
		}
	}
	if !changed {
		return frame, 0, nil
	}
	var hold time.Duration
	if withheld && records == 0 {
		hold = holdEmpty
	}
	return responseFrame(req, &resp), hold, nil
}

// The places in a record batch (magic 2) header this file reads.
const (
	batchHeadLen       = 12 // base offset, batch length
	batchLastDeltaAt   = 23 // the last offset delta, an int32
	batchHeadWithDelta = batchLastDeltaAt + 4
)

// batchesBelow is the record batches of b whose records all lie below
// offset limit; a batch cut short at the end (as brokers send them) is
// kept while it begins below limit.
func batchesBelow(b []byte, limit int64) []byte {
	kept := 0
	for rest := b; len(rest) >= batchHeadLen; {
		base := int64(binary.BigEndian.Uint64(rest))
		size := batchHeadLen + int(int32(binary.BigEndian.Uint32(rest[8:])))
		if size > len(rest) || len(rest) < batchHeadWithDelta {
			if base < limit {
				kept = len(b)
			}
			break
		}
		last := base + int64(int32(binary.BigEndian.Uint32(rest[batchLastDeltaAt:])))
		if last >= limit {
			break
		}
		kept += size
		rest = rest[size:]
	}
	return b[:kept]
}

// countRecords counts the records of the whole record batches in b.
func countRecords(b []byte) int {
	n := 0
	for rest := b; len(rest) >= batchHeadWithDelta; {
		size := batchHeadLen + int(int32(binary.BigEndian.Uint32(rest[8:])))
		if size > len(rest) || size < batchHeadWithDelta {
			break
		}
		n += 1 + int(int32(binary.BigEndian.Uint32(rest[batchLastDeltaAt:])))
		rest = rest[size:]
	}
	return n
}
