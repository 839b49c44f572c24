"""Keyword spotting: micro-frontend features, multilingual embedding, few-shot and closed-set models,
streaming detection, int8 export."""
