"""The LLM judge: rubric and digest (:mod:`.rubric`), verdict cache (:mod:`.cache`), batched runs (:mod:`.runner`)."""
