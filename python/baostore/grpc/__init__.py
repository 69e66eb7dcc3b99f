"""gRPC: the BlobService server adapter over any store, and the client store that speaks to it."""
