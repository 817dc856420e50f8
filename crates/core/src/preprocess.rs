//! The tweet preprocessing of the cardiffnlp model cards.
//!
//! The card of `cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual` gives:
//! ```python
//! for t in text.split(" "):
//!     t = '@user' if t.startswith('@') and len(t) > 1 else t
//!     t = 'http' if t.startswith('http') else t
//! ```
//! The model was fine-tuned on tweets normalised this way, so handles and links carry no signal.
//! Like the card, only the space character separates tokens (not tabs or newlines), and the test
//! is case-sensitive; tweetnlp's regex variant differs and is not followed.

/// Replaces `@handle` tokens with `@user` and tokens starting with `http` with `http`.
pub fn preprocess_tweet(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, token) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // `len(t) > 1` counts code points in Python.
        let token = if token.starts_with('@') && token.chars().count() > 1 {
            "@user"
        } else {
            token
        };
        let token = if token.starts_with("http") {
            "http"
        } else {
            token
        };
        out.push_str(token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::preprocess_tweet;

    #[test]
    fn follows_the_model_card() {
        assert_eq!(
            preprocess_tweet("@Bob loved it https://t.co/x @ http"),
            "@user loved it http @ http"
        );
        assert_eq!(preprocess_tweet("  @a  "), "  @user  ");
        assert_eq!(
            preprocess_tweet("mail@x.com HTTP://X @é"),
            "mail@x.com HTTP://X @user"
        );
        assert_eq!(preprocess_tweet("@bob\nhttp://x"), "@user");
        assert_eq!(preprocess_tweet(""), "");
    }
}
