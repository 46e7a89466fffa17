"""F.scaled_dot_product_attention, logging its calls (the dense path)."""
DENSE_CALLS = []


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kw):
    import torch

    DENSE_CALLS.append(dict(shape=tuple(query.shape), attn_mask=attn_mask, is_causal=is_causal, kw=kw))
    return torch.Tensor(query.shape, query.dtype, query.device)
