package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFrame bounds one Kafka frame; anything larger is a broken stream.
const maxFrame = 256 << 20

var errMalformed = errors.New("kafka: malformed frame")

// readFrame reads one size-prefixed Kafka frame and returns it without
// its size.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxFrame {
		return nil, fmt.Errorf("%w: size %d", errMalformed, n)
	}
	frame := make([]byte, n)
	_, err := io.ReadFull(r, frame)
	return frame, err
}

// appendFrame prefixes frame with its size.
func appendFrame(dst, frame []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	return append(dst, frame...)
}

// request is the header of one client request: which API, which
// version, its correlation id, and where its body begins.
type request struct {
	key, version int16
	corr         int32
	body         []byte
}

// flexible tells whether the request's version uses the flexible
// (tagged-field) encoding, which decides its response header too.
func (r request) flexible() bool {
	req := kmsg.RequestForKey(r.key)
	if req == nil {
		return false
	}
	req.SetVersion(r.version)
	return req.IsFlexible()
}

// parseRequest reads a request frame's header: api key, api version,
// correlation id, client id, and (header v2, for flexible versions) its
// tagged fields.
func parseRequest(frame []byte) (request, error) {
	if len(frame) < 10 {
		return request{}, fmt.Errorf("%w: request of %d bytes", errMalformed, len(frame))
	}
	r := request{
		key:     int16(binary.BigEndian.Uint16(frame[0:])),
		version: int16(binary.BigEndian.Uint16(frame[2:])),
		corr:    int32(binary.BigEndian.Uint32(frame[4:])),
	}
	rest := frame[8:]
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if idLen > 0 {
		if int(idLen) > len(rest) {
			return request{}, fmt.Errorf("%w: client id", errMalformed)
		}
		rest = rest[idLen:]
	}
	// ControlledShutdown v0 is the one flexible-less header exception;
	// it is never sent by a consumer.
	if r.flexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return request{}, err
		}
	}
	r.body = rest
	return r, nil
}

// responseBody splits a response frame for req into its body: after the
// correlation id and, for flexible versions other than ApiVersions
// (whose response header is always v0), the header's tagged fields.
func responseBody(req request, frame []byte) ([]byte, error) {
	if len(frame) < 4 {
		return nil, fmt.Errorf("%w: response of %d bytes", errMalformed, len(frame))
	}
	rest := frame[4:]
	if req.flexible() && req.key != int16(kmsg.ApiVersions) {
		return skipTags(rest)
	}
	return rest, nil
}

// responseFrame makes the frame of resp answering req: correlation id,
// an empty tag section where the header has one, and the body.
func responseFrame(req request, resp kmsg.Response) []byte {
	frame := binary.BigEndian.AppendUint32(nil, uint32(req.corr))
	if req.flexible() && req.key != int16(kmsg.ApiVersions) {
		frame = append(frame, 0)
	}
	resp.SetVersion(req.version)
	return resp.AppendTo(frame)
}

// skipTags skips a tagged-field section: a count, then per field its
// tag, its size and its bytes, all but the bytes unsigned varints.
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, fmt.Errorf("%w: tagged fields", errMalformed)
	}
	b = b[used:]
	for range n {
		_, used = binary.Uvarint(b)
		if used <= 0 {
			return nil, fmt.Errorf("%w: tag", errMalformed)
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || uint64(len(b)-used) < size {
			return nil, fmt.Errorf("%w: tag size", errMalformed)
		}
		b = b[used+int(size):]
	}
	return b, nil
}
