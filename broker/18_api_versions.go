package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

func init() { register(18, 0, 3, (*Server).handleApiVersions) }

// handleApiVersions advertises exactly the registry of implemented APIs. (A too-new ApiVersions version is
// answered by the network layer in v0 format, as KIP-511 requires.)
func (s *Server) handleApiVersions(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	for _, k := range apiKeys() {
		a := apis[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	if req.Version >= 3 {
		f := kmsg.NewApiVersionsResponseFinalizedFeature()
		f.Name, f.MinVersionLevel, f.MaxVersionLevel = "metadata.version", 19, 19
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, f)
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = "metadata.version", 1, 19
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		resp.FinalizedFeaturesEpoch = -1
	}
	respond(resp)
}
